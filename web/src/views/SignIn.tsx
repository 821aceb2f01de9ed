// Demo sign-in: pick a user; the dev identity provider issues their token.
import { useEffect, useState } from "react";

import { type DemoUser, TokenStore, isAdmin, listDemoUsers } from "../auth";

export function SignIn({ onSignedIn }: { onSignedIn: (tokens: TokenStore) => void }) {
  const [users, setUsers] = useState<DemoUser[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    listDemoUsers()
      .then(setUsers)
      .catch((e: Error) => setError(`Cannot load the demo users: ${e.message}`));
  }, []);

  const pick = async (user: DemoUser) => {
    setBusy(user.id);
    setError(null);
    try {
      onSignedIn(await TokenStore.signIn(user));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(null);
    }
  };

  return (
    <main className="signin">
      <div className="card signin-card">
        <h1>
          <span className="logo" aria-hidden="true">◆</span> OrderFlow
        </h1>
        <p className="muted">Choose a demo account to sign in.</p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {!users && !error && <p className="muted">Loading accounts…</p>}
        <ul className="user-list">
          {users?.map((user) => (
            <li key={user.id}>
              <button
                type="button"
                className="user-button"
                disabled={busy !== null}
                onClick={() => void pick(user)}
              >
                <span className="avatar" aria-hidden="true">
                  {user.name.charAt(0)}
                </span>
                <span>
                  <strong>{user.name}</strong>
                  <span className="muted small block">
                    {isAdmin(user) ? "Administrator" : user.description}
                  </span>
                </span>
                {busy === user.id && <span className="muted small">Signing in…</span>}
              </button>
            </li>
          ))}
        </ul>
        <p className="muted small">
          Development sign-in: tokens come from the local dev identity provider. In production
          the app signs in with your organisation's identity provider.
        </p>
      </div>
    </main>
  );
}
