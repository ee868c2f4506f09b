/**
 * Where the client keeps the signed-in token. Any object with `get`, `set` and `clear`
 * (each may return a promise) will do: an app passes its own to keep the token in a
 * cookie, a native keychain or its state store.
 */

/** A store in memory: the token is gone when the page or process ends. */
export function memoryStorage() {
  let token = null;
  return {
    get: () => token,
    set: (value) => {
      token = value;
    },
    clear: () => {
      token = null;
    },
  };
}

/**
 * A store in a Web Storage area (`localStorage` by default, or `sessionStorage`), under
 * `key`: the token survives reloads (and, with localStorage, is shared by the tabs).
 */
export function webStorage(key = "tessera-token", area = globalThis.localStorage) {
  if (!area) throw new TypeError("webStorage needs localStorage or sessionStorage (a browser)");
  return {
    get: () => area.getItem(key),
    set: (value) => area.setItem(key, value),
    clear: () => area.removeItem(key),
  };
}
