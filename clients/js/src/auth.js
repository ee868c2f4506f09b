/**
 * Signing in. In local mode the server keeps accounts: `register` and `login` answer a
 * token, which is kept in the client's storage. With an OIDC provider the app passes the
 * provider's token in (`setToken`, or the client's `getToken` option); Tessera only checks it.
 */
export class Auth {
  constructor(client) {
    this.client = client;
  }

  /** Create a local account and sign in as it; answers `{user_id, username, access_token, ...}`. */
  async register(username, password, email) {
    const body = email === undefined ? { username, password } : { username, password, email };
    return this.keep(await this.client.request("POST", "/api/auth/register", { body, anonymous: true }));
  }

  /** Sign in to a local account; answers `{user_id, username, access_token, expires_in, ...}`. */
  async login(username, password) {
    const body = { username, password };
    return this.keep(await this.client.request("POST", "/api/auth/login", { body, anonymous: true }));
  }

  /** Forget the token. Tokens are not kept by the server, so there is nothing to call. */
  async logout() {
    await this.client.storage.clear();
  }

  /** Use a token obtained elsewhere: an OIDC provider's, or one `tessera token` printed. */
  async setToken(token) {
    await this.client.storage.set(token);
  }

  /** Whether a token is at hand (not whether the server still accepts it: see `me`). */
  async signedIn() {
    return (await this.client.token()) !== null;
  }

  /** Who the token says the caller is: `{user_id, username, app_id, roles, is_superadmin}`. */
  me(options = {}) {
    return this.client.request("GET", "/api/auth/me", options);
  }

  async keep(answer) {
    await this.client.storage.set(answer.access_token);
    return answer;
  }
}
