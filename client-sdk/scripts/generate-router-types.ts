// Writes src/app-router.ts: the server's AppRouter as the client sees it, spelled out in plain
// types. The server's own AppRouter type carries its context (MikroORM's EntityManager, Fastify's
// logger, node:crypto keys) and zod's types; a declaration file that referenced it would need all
// of those installed. Spelling out every procedure's input and output leaves a file whose only
// import is @trpc/server, which @trpc/client brings along as its peer.
//
//   node client-sdk/scripts/generate-router-types.ts          write the file
//   node client-sdk/scripts/generate-router-types.ts --check  exit 1 if the file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '..', '..');
const routerFile = path.join(root, 'server', 'trpc', 'router.ts');
const PRIMITIVE =
  ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike | ts.TypeFlags.BigIntLike;
export const outputFile = path.join(root, 'client-sdk', 'src', 'app-router.ts');

function compilerOptions(): ts.CompilerOptions {
  const configPath = path.join(root, 'tsconfig.json');
  const { config } = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file)) as { config: unknown };
  return ts.parseJsonConfigFileContent(config, ts.sys, root).options;
}

export function generateRouterTypes(): string {
  const program = ts.createProgram([routerFile], compilerOptions());
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(routerFile);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  const alias = moduleSymbol && checker.getExportsOfModule(moduleSymbol).find((s) => s.name === 'AppRouter');
  if (!alias) throw new Error(`no exported AppRouter in ${routerFile}`);

  const prop = (type: ts.Type, name: string): ts.Type => {
    const symbol = type.getProperty(name);
    if (!symbol) throw new Error(`expected a property ${name} on ${checker.typeToString(type)}`);
    return checker.getTypeOfSymbol(symbol);
  };

  const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));

  /** The type written out structurally, down to primitives and literals. */
  const print = (type: ts.Type, indent: string): string => {
    if (type.flags & ts.TypeFlags.Boolean) return 'boolean';
    if (type.isUnion()) {
      // `boolean` arrives as true | false inside larger unions: print it as people write it.
      const members = type.types.filter((t) => !(t.flags & ts.TypeFlags.BooleanLiteral));
      const hasBoolean = members.length === type.types.length - 2;
      // Sorted: the checker's own order depends on the order types were created, which varies.
      return [...members.map((t) => print(t, indent)), ...(hasBoolean ? ['boolean'] : [])].sort().join(' | ');
    }
    if (type.isIntersection()) {
      // Brands such as MikroORM's Opt<string> (string & { [optional]?: … }) mean nothing to a
      // client: keep the primitive.
      const primitives = type.types.filter((t) => t.flags & PRIMITIVE);
      return (primitives.length ? primitives : type.types).map((t) => print(t, indent)).join(' & ');
    }
    if (checker.isArrayType(type)) {
      const [element] = checker.getTypeArguments(type as ts.TypeReference);
      return `Array<${print(element!, indent)}>`;
    }
    if (type.flags & ts.TypeFlags.Object && !(type.flags & ts.TypeFlags.EnumLiteral)) {
      const properties = checker.getPropertiesOfType(type);
      if (properties.length === 0 && checker.typeToString(type) === 'object') return 'object';
      const inner = `${indent}  `;
      const lines = properties.map((symbol) => {
        const optional = symbol.flags & ts.SymbolFlags.Optional ? '?' : '';
        return `${inner}${key(symbol.name)}${optional}: ${print(checker.getTypeOfSymbol(symbol), inner)};`;
      });
      for (const index of checker.getIndexInfosOfType(type)) {
        lines.push(`${inner}[key: ${checker.typeToString(index.keyType)}]: ${print(index.type, inner)};`);
      }
      return lines.length ? `{\n${lines.join('\n')}\n${indent}}` : '{}';
    }
    return checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation);
  };

  const procedureKinds = {
    query: 'TRPCQueryProcedure',
    mutation: 'TRPCMutationProcedure',
    subscription: 'TRPCSubscriptionProcedure',
  } as const;
  /**
   * A subscription's output is the AsyncIterable of what the client receives (tracked events
   * already as { id, data }): written out as AsyncIterable<event>, never as the iterator's methods.
   */
  const printOutput = (kind: keyof typeof procedureKinds, output: ts.Type, indent: string): string => {
    if (kind !== 'subscription') return print(output, indent);
    const [event] = checker.getTypeArguments(output as ts.TypeReference);
    if (!event) throw new Error(`expected an AsyncIterable output, got ${checker.typeToString(output)}`);
    return `AsyncIterable<${print(event, indent)}>`;
  };
  const printRecord = (record: ts.Type, indent: string): string => {
    const inner = `${indent}  `;
    const lines = checker.getPropertiesOfType(record).map((symbol) => {
      const value = checker.getTypeOfSymbol(symbol);
      if (!value.getProperty('_def')) return `${inner}${key(symbol.name)}: ${printRecord(value, inner)};`;
      const def = prop(value, '_def');
      const kind = checker.typeToString(prop(def, 'type')).replaceAll('"', '') as keyof typeof procedureKinds;
      if (!(kind in procedureKinds)) throw new Error(`${symbol.name}: ${kind} procedures are not supported`);
      const types = prop(def, '$types');
      const deeper = `${inner}  `;
      return (
        `${inner}${key(symbol.name)}: ${procedureKinds[kind]}<{\n` +
        `${deeper}input: ${print(prop(types, 'input'), deeper)};\n` +
        `${deeper}output: ${printOutput(kind, prop(types, 'output'), deeper)};\n` +
        `${deeper}meta: object;\n` +
        `${deeper}errorShape: ErrorShape;\n` +
        `${inner}}>;`
      );
    });
    return `{\n${lines.join('\n')}\n${indent}}`;
  };

  const router = checker.getDeclaredTypeOfSymbol(alias);
  const definition = prop(router, '_def');
  const errorShape = prop(prop(prop(definition, '_config'), '$types'), 'errorShape');
  return [
    '// Generated by client-sdk/scripts/generate-router-types.ts from server/trpc/router.ts: do not edit.',
    '// Run `npm run sdk:types` after changing a procedure; `npm test` fails while this file is stale.',
    'import type {',
    '  TRPCBuiltRouter,',
    '  TRPCMutationProcedure,',
    '  TRPCQueryProcedure,',
    '  TRPCSubscriptionProcedure,',
    "} from '@trpc/server';",
    '',
    "/** The shape of every error the API answers (tRPC error shape plus Warble's `data` fields). */",
    `export type ErrorShape = ${print(errorShape, '')};`,
    '',
    '/** The Warble API: every procedure with its input and output types. */',
    'export type AppRouter = TRPCBuiltRouter<',
    '  { ctx: object; meta: object; errorShape: ErrorShape; transformer: false },',
    `  ${printRecord(prop(definition, 'record'), '  ')}`,
    '>;',
    '',
  ].join('\n');
}

if (import.meta.main) {
  const generated = generateRouterTypes();
  if (process.argv.includes('--check')) {
    if (readFileSync(outputFile, 'utf8') !== generated) {
      process.stderr.write(`${path.relative(root, outputFile)} is out of date: run \`npm run sdk:types\`\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(outputFile, generated);
    process.stdout.write(`wrote ${path.relative(root, outputFile)}\n`);
  }
}
