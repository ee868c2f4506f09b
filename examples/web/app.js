// The example front end: sign-in, a todo list kept live by the server's messages, kudos
// between users, and a notification bell. Everything goes through tessera-client.
import { TesseraClient, UnauthorizedError, webStorage } from "./client/index.js";

const tessera = new TesseraClient({ storage: webStorage("tessera-example-token") });
const $ = (id) => document.getElementById(id);
let realtime = null;
const shown = new Set(); // notification ids in the bell: one arriving live while listed shows once

async function start() {
  if (!(await tessera.auth.signedIn())) return showSignIn();
  let me;
  try {
    me = await tessera.auth.me();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) $("signin-error").textContent = error.message;
    return showSignIn();
  }
  $("who").textContent = `${me.username} · id ${me.user_id}`;
  for (const id of ["signout", "bell", "app"]) $(id).hidden = false;
  $("signin").hidden = true;
  realtime = tessera.realtime();
  realtime.on("todo_update", refreshItems);
  realtime.on("notification", (message) => showNotification(message.data, true));
  realtime.on("resync", () => Promise.all([refreshItems(), refreshBell()]));
  realtime.onState((change) => {
    $("live").textContent = change.state;
    if (change.error) showSignIn(); // the server refused the token: sign in again
  });
  await realtime.connect(); // first, so that nothing sent while the lists load is missed
  await Promise.all([refreshItems(), refreshBell()]);
}

function showSignIn() {
  for (const id of ["signout", "bell", "app", "panel"]) $(id).hidden = true;
  $("signin").hidden = false;
  $("who").textContent = "";
}

async function signIn(action) {
  $("signin-error").textContent = "";
  try {
    await action();
    await start();
  } catch (error) {
    $("signin-error").textContent = error.message;
  }
}

$("account").onsubmit = (event) => {
  event.preventDefault();
  signIn(() => tessera.auth.login($("username").value, $("password").value));
};
$("register").onclick = () =>
  signIn(() => tessera.auth.register($("username").value, $("password").value));
$("token-form").onsubmit = (event) => {
  event.preventDefault();
  signIn(() => tessera.auth.setToken($("token").value.trim()));
};
$("signout").onclick = async () => {
  realtime?.close();
  await tessera.auth.logout();
  showSignIn();
};

async function refreshItems() {
  const { items } = await tessera.execute("todo", { action: "list" });
  $("items").replaceChildren(...items.map(itemRow));
}

function itemRow(item) {
  const row = document.createElement("li");
  row.className = item.done ? "done" : "";
  const done = Object.assign(document.createElement("input"), { type: "checkbox", checked: item.done });
  done.onchange = () =>
    tessera.execute("todo", { action: "update", item_id: item._id, done: done.checked });
  const title = Object.assign(document.createElement("span"), { textContent: item.title });
  const remove = Object.assign(document.createElement("button"), { textContent: "Delete" });
  remove.onclick = () => tessera.execute("todo", { action: "delete", item_id: item._id });
  row.append(done, title, remove);
  return row;
}

// The server pushes todo_update to every tab of this user: the list refreshes there.
$("add").onsubmit = async (event) => {
  event.preventDefault();
  await tessera.execute("todo", { action: "create", title: $("title").value });
  $("title").value = "";
};

$("kudos").onsubmit = async (event) => {
  event.preventDefault();
  try {
    await tessera.execute("kudos", { action: "send", to: $("to").value, message: $("message").value });
    $("kudos-status").textContent = "Sent.";
  } catch (error) {
    $("kudos-status").textContent = error.message;
  }
};

async function refreshBell() {
  const { notifications, unread_count } = await tessera.notifications.list({ limit: 20 });
  $("notifications").replaceChildren();
  shown.clear();
  for (const notification of notifications.reverse()) showNotification(notification, false);
  $("badge").textContent = String(unread_count);
}

function showNotification(notification, fresh) {
  if (shown.has(notification.id)) return;
  shown.add(notification.id);
  const entry = document.createElement("li");
  entry.className = notification.read ? "" : "unread";
  entry.textContent = `${notification.title}: ${notification.message}`;
  entry.onclick = async () => {
    await tessera.notifications.markRead(notification.id);
    entry.className = "";
    $("badge").textContent = String((await tessera.notifications.count()).unread_count);
  };
  $("notifications").prepend(entry);
  if (fresh) $("badge").textContent = String(Number($("badge").textContent) + 1);
}

$("bell").onclick = () => ($("panel").hidden = !$("panel").hidden);
$("read-all").onclick = async () => {
  await tessera.notifications.markAllRead();
  await refreshBell();
};

start();
