// Every link in the repository's Markdown works for someone who cloned it, or installed the SDK:
// a relative link names a file of the repository (and an anchor a heading of that file), no link
// leaves the repository, and the SDK's README links nothing outside what its tarball holds.
// Outside addresses are not links at all: reference material must stay true without the network,
// so URLs appear only as code (`http://localhost:5173`), which GitHub and npm do not turn into links.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(import.meta.dirname, '..');

/** The files a commit of this checkout holds: tracked or new, not ignored, not deleted. */
function repositoryFiles(): Set<string> {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const files = listed.split('\0').filter((file) => file && isFile(path.join(ROOT, file)));
  return new Set(files);
}

function isFile(absolute: string): boolean {
  try {
    return statSync(absolute).isFile();
  } catch {
    return false;
  }
}

/** Without fenced blocks and comments: a `#` line in a shell example is not a heading. */
function withoutBlocks(markdown: string): string {
  return markdown.replace(/^ {0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ {0,3}\1[^\n]*$/gm, '').replace(/<!--[\s\S]*?-->/g, '');
}

/** Prose only: code, fenced or inline, holds examples, never links. */
function prose(markdown: string): string {
  return withoutBlocks(markdown).replace(/(`+)[^`]+?\1/g, '');
}

/** Every link target in a Markdown text: inline links and images, references, HTML, autolinks, bare URLs. */
function linksOf(markdown: string): string[] {
  const text = prose(markdown);
  return [
    ...[...text.matchAll(/\]\(\s*<?([^)\s>]*)>?(?:\s+["'(][^)]*)?\)/g)].map((match) => match[1]!),
    ...[...text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((match) => match[1]!),
    ...[...text.matchAll(/\b(?:href|src)\s*=\s*["']([^"']*)["']/gi)].map((match) => match[1]!),
    ...[...text.matchAll(/<([a-z][a-z0-9+.-]*:[^\s>]*)>/gi)].map((match) => match[1]!),
    ...[...text.matchAll(/(?<![(<"'=\w])(?:https?:\/\/|www\.)[^\s)>\]]+/gi)].map((match) => match[0]),
  ];
}

/** GitHub's heading ids: text content, lower case, punctuation dropped, spaces to `-`, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of withoutBlocks(markdown).matchAll(/^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = match[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link shows its text
      .replace(/<[^>]+>/g, '');
    const slug = text
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  for (const match of markdown.matchAll(/<a\s+(?:name|id)\s*=\s*["']([^"']+)["']/gi)) anchors.add(match[1]!);
  return anchors;
}

/** What is wrong with each link of `file` (a repository path), as readable lines; [] when all are fine. */
function brokenLinks(file: string, markdown: string, files: Set<string>, readTarget: (f: string) => string) {
  const problems: string[] = [];
  for (const link of linksOf(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('//') || link.startsWith('www.')) {
      problems.push(`${link}: leaves the repository (name outside material in words, or as code)`);
      continue;
    }
    const [rawTarget = '', rawAnchor] = link.split('#', 2);
    const target = decodeURIComponent(rawTarget);
    if (target.startsWith('/')) {
      problems.push(`${link}: absolute path (it breaks outside GitHub; write it relative)`);
      continue;
    }
    const resolved = target === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), target));
    if (resolved === '..' || resolved.startsWith('../')) {
      problems.push(`${link}: leaves the repository`);
      continue;
    }
    const isDirectory = [...files].some((known) => known.startsWith(`${resolved.replace(/\/$/, '')}/`));
    if (!files.has(resolved) && !isDirectory) {
      problems.push(`${link}: no such file in the repository (${resolved})`);
      continue;
    }
    if (rawAnchor !== undefined) {
      if (!resolved.endsWith('.md')) {
        problems.push(`${link}: an anchor into a file that is not Markdown`);
      } else if (!anchorsOf(readTarget(resolved)).has(decodeURIComponent(rawAnchor))) {
        problems.push(`${link}: ${resolved} has no heading #${rawAnchor}`);
      }
    }
  }
  return problems;
}

const files = repositoryFiles();
const markdownFiles = [...files].filter((file) => file.endsWith('.md')).sort();
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

describe('the link checker itself', () => {
  it("computes GitHub's heading ids", () => {
    const anchors = anchorsOf(
      '# Warble\n## Oversized uploads, errors outside tRPC, response headers\n## `npm start` & friends\n' +
        '## Setup\n## Setup\n```sh\n# not a heading\n```\n',
    );
    expect([...anchors]).toEqual([
      'warble',
      'oversized-uploads-errors-outside-trpc-response-headers',
      'npm-start--friends',
      'setup',
      'setup-1',
    ]);
  });

  it('finds each kind of broken link and ignores examples in code', () => {
    const sample = [
      '[ok](docs/auth.md#accounts) [gone](docs/nope.md) [anchor](docs/api.md#nope) [out](../shared/x.md)',
      '[web](https://example.com) see https://example.org/page [abs](/README.md)',
      '`[code](../not-a-link.md)` and `https://in.code.example`',
      '```sh\ncurl https://in.a.block.example\n```',
    ].join('\n');
    const problems = brokenLinks('README.md', sample, files, read);
    expect(problems.map((problem) => problem.split(':')[0])).toEqual([
      'docs/nope.md',
      'docs/api.md#nope',
      '../shared/x.md',
      'https',
      '/README.md',
      'https',
    ]);
  });
});

describe('Markdown links', () => {
  it('covers the repository’s Markdown files', () => {
    expect(markdownFiles).toEqual(expect.arrayContaining(['README.md', 'docs/api.md', 'client-sdk/README.md']));
  });

  it.each(markdownFiles)('%s: every link resolves inside the repository', (file) => {
    expect(brokenLinks(file, read(file), files, read)).toEqual([]);
  });

  it('client-sdk/README.md links only to what the published package holds', () => {
    const manifest = JSON.parse(read('client-sdk/package.json')) as { files: string[] };
    // npm always packs package.json and the README; `files` adds the rest.
    const packed = ['package.json', 'README.md', ...manifest.files].map((entry) => entry.replace(/^\.\//, ''));
    const outside = linksOf(read('client-sdk/README.md'))
      .map((link) => link.split('#')[0]!)
      .filter((target) => target !== '')
      .filter((target) => {
        const inPackage = path.posix.normalize(target);
        return !packed.some((entry) => inPackage === entry || inPackage.startsWith(`${entry}/`));
      });
    expect(outside).toEqual([]);
  });
});
