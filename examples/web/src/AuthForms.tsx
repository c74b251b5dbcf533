// Signed out: create an account, or log in (which sets the API's httpOnly refresh cookie).
import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { queryClient, sessionQuery, trpc } from './api.ts';
import { ErrorNote } from './errors.tsx';

export function AuthForms({ unreachable }: { unreachable: unknown }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [created, setCreated] = useState<string | null>(null);

  const signup = useMutation(
    trpc.auth.signup.mutationOptions({
      onSuccess: (user) => setCreated(user.username),
    }),
  );
  const login = useMutation(
    trpc.auth.login.mutationOptions({
      // The SDK now holds the access token; the answer says who we are.
      onSuccess: ({ user }) => queryClient.setQueryData(sessionQuery.queryKey, user),
    }),
  );

  const submit = (action: 'signup' | 'login') => (event: FormEvent) => {
    event.preventDefault();
    signup.reset();
    login.reset();
    if (action === 'signup') signup.mutate({ username, password });
    else login.mutate({ username, password });
  };
  const busy = signup.isPending || login.isPending;

  return (
    <main className="auth">
      <h1>Warble</h1>
      <ErrorNote error={unreachable} />
      <form aria-label="Account" onSubmit={submit('login')}>
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="username" required />
        </label>
        <label>
          Password
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="current-password"
            required
          />
        </label>
        <div className="actions">
          <button type="submit" disabled={busy}>
            Log in
          </button>
          <button type="button" disabled={busy} onClick={submit('signup')}>
            Sign up
          </button>
        </div>
        {created && !signup.error && (
          <p className="notice" role="status">
            Account @{created} created: log in to start.
          </p>
        )}
        <ErrorNote error={signup.error ?? login.error} />
      </form>
    </main>
  );
}
