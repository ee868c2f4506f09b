/** The caller's notifications: each call reads or changes the signed-in user's own. */
export class Notifications {
  constructor(client) {
    this.client = client;
  }

  /** `{notifications, count, unread_count}`, newest first. Options: unreadOnly, limit, offset. */
  list(options = {}) {
    const query = { unread_only: options.unreadOnly, limit: options.limit, offset: options.offset };
    return this.client.request("GET", "/api/notifications", { query, signal: options.signal });
  }

  /** `{count, unread_count}`: how many are unread. */
  count() {
    return this.client.request("GET", "/api/notifications/count");
  }

  /** Mark one read; a NotFoundError for an id that is not the caller's. */
  markRead(id) {
    return this.client.request("POST", `/api/notifications/${encodeURIComponent(id)}/read`);
  }

  /** Mark one unread again. */
  markUnread(id) {
    return this.client.request("POST", `/api/notifications/${encodeURIComponent(id)}/unread`);
  }

  /** Mark every one read; answers `{success, updated}`. */
  markAllRead() {
    return this.client.request("POST", "/api/notifications/mark-all-read");
  }

  /** Delete one; a NotFoundError for an id that is not the caller's. */
  delete(id) {
    return this.client.request("DELETE", `/api/notifications/${encodeURIComponent(id)}`);
  }

  /** `{type: {enabled}}` for the types the caller chose. */
  preferences() {
    return this.client.request("GET", "/api/notifications/preferences");
  }

  /** Turn types on or off: `{todo_created: {enabled: false}}`; answers `{preferences}`, all choices. */
  setPreferences(preferences) {
    return this.client.request("POST", "/api/notifications/preferences", { body: preferences });
  }

  /** The types plugins declare, and the caller's choice for each. */
  config() {
    return this.client.request("GET", "/api/notifications/config");
  }
}
