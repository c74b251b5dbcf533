// The page: who is signed in decides between the sign-in forms and the app; the URL's hash picks
// the view (#/ the timeline, #/u/<username> a profile), so a reload stays where the user was.
import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { forgetSession, sessionQuery, trpc, type SessionUser } from './api.ts';
import { AuthForms } from './AuthForms.tsx';
import { ErrorNote } from './errors.tsx';
import { LiveStatus, useLiveTimeline } from './Live.tsx';
import { Profile } from './Profile.tsx';
import { Timeline } from './Timeline.tsx';

export function App() {
  const session = useQuery(sessionQuery);
  if (session.isPending) return <p className="loading">Loading…</p>;
  // An API that cannot be reached is shown, and the forms stay usable for when it comes back.
  if (!session.data) return <AuthForms unreachable={session.error} />;
  return <SignedIn user={session.data} />;
}

function SignedIn({ user }: { user: SessionUser }) {
  const route = useHashRoute();
  const logout = useMutation(trpc.auth.logout.mutationOptions({ onSuccess: forgetSession }));
  // Here rather than in the timeline: new posts keep arriving while a profile is shown.
  const live = useLiveTimeline();
  return (
    <div className="app">
      <header>
        <a className="brand" href="#/">
          Warble
        </a>
        <FindUser />
        <LiveStatus {...live} />
        <span className="me">
          Signed in as{' '}
          <a href={`#/u/${user.username}`} data-testid="signed-in-as">
            @{user.username}
          </a>
        </span>
        <button type="button" onClick={() => logout.mutate({})} disabled={logout.isPending}>
          Log out
        </button>
      </header>
      <ErrorNote error={logout.error} />
      <main>{route.username ? <Profile username={route.username} me={user} /> : <Timeline me={user} />}</main>
    </div>
  );
}

function FindUser() {
  const [name, setName] = useState('');
  const go = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim()) window.location.hash = `#/u/${encodeURIComponent(name.trim())}`;
    setName('');
  };
  return (
    <form className="find" onSubmit={go} role="search">
      <input
        aria-label="Find a user"
        placeholder="Find a user"
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <button type="submit">Go</button>
    </form>
  );
}

function readRoute(): { username: string | null } {
  const match = /^#\/u\/([^/]+)$/.exec(window.location.hash);
  return { username: match?.[1] ? decodeURIComponent(match[1]) : null };
}

function useHashRoute() {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const onChange = () => setRoute(readRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
