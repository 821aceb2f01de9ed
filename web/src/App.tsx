// The shell: sign-in until a demo user is picked, then the customer view or the admin dashboard.
import { useState } from "react";

import { TokenStore, isAdmin } from "./auth";
import { AdminView } from "./views/AdminView";
import { CustomerView } from "./views/CustomerView";
import { SignIn } from "./views/SignIn";

export function App() {
  const [tokens, setTokens] = useState<TokenStore | null>(() => TokenStore.restore());

  if (!tokens) return <SignIn onSignedIn={setTokens} />;
  const admin = isAdmin(tokens.user);
  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden="true">◆</span> OrderFlow
          <span className="section">{admin ? "Admin dashboard" : "Shop"}</span>
        </div>
        <div className="who">
          <span data-testid="signed-in-as">
            {tokens.user.name}
            {admin && <span className="tag">Admin</span>}
          </span>
          <button
            type="button"
            className="btn ghost"
            onClick={() => {
              TokenStore.signOut();
              setTokens(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main className="content">
        {admin ? <AdminView tokens={tokens} /> : <CustomerView tokens={tokens} />}
      </main>
    </div>
  );
}
