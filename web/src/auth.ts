// Sign-in for the demo: a user picked on the sign-in page gets a short-lived ES256 token from the
// dev identity provider (`/dev-idp/token`, proxied by Vite). The token store hands out a token
// that is fresh for at least a minute, asking for a new one when the old one nears expiry, so
// every SignalR (re)connect and every API call carries a valid token. A real provider (OIDC)
// plugs in here: see README.md, "Production sign-in".

export interface DemoUser {
  id: string;
  name: string;
  roles: string[];
  description: string;
}

export interface Session {
  user: DemoUser;
  token: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** Refresh when less than this much lifetime is left. */
export const REFRESH_MARGIN_MS = 60_000;
const STORAGE_KEY = "orderflow.session";

export function isAdmin(user: DemoUser): boolean {
  return user.roles.includes("Admin");
}

export function needsRefresh(session: Session, now: number): boolean {
  // Written so that an unparseable expiry (NaN) counts as expired.
  return !(session.expiresAt - now >= REFRESH_MARGIN_MS);
}

export async function listDemoUsers(): Promise<DemoUser[]> {
  const response = await fetch("/dev-idp/users");
  if (!response.ok) throw new Error(`The sign-in service answered ${response.status}.`);
  const body = (await response.json()) as { users: DemoUser[] };
  return body.users;
}

async function issueToken(user: DemoUser): Promise<Session> {
  const response = await fetch("/dev-idp/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId: user.id }),
  });
  if (!response.ok) throw new Error(`The sign-in service answered ${response.status}.`);
  const body = (await response.json()) as { accessToken: string; expiresAt: string };
  return { user, token: body.accessToken, expiresAt: Date.parse(body.expiresAt) };
}

/** Holds the current session and refreshes its token on demand. */
export class TokenStore {
  private refreshing: Promise<Session> | null = null;

  constructor(private session: Session) {}

  static async signIn(user: DemoUser): Promise<TokenStore> {
    const session = await issueToken(user);
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    return new TokenStore(session);
  }

  /** The session saved in this tab, if any (its token may be refreshed on first use). */
  static restore(): TokenStore | null {
    try {
      const saved = sessionStorage.getItem(STORAGE_KEY);
      return saved ? new TokenStore(JSON.parse(saved) as Session) : null;
    } catch {
      return null;
    }
  }

  static signOut(): void {
    sessionStorage.removeItem(STORAGE_KEY);
  }

  get user(): DemoUser {
    return this.session.user;
  }

  /** A token valid for at least REFRESH_MARGIN_MS; `force` replaces it regardless (after a 401). */
  async getToken(force = false): Promise<string> {
    if (!force && !needsRefresh(this.session, Date.now())) return this.session.token;
    this.refreshing ??= issueToken(this.session.user).finally(() => {
      this.refreshing = null;
    });
    this.session = await this.refreshing;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.session));
    return this.session.token;
  }
}
