// The account page's access tokens: list them, create one (its secret shown once, with a copy
// button), revoke one. Everything goes through the JSON API at /account/tokens.
import { ApiError, api, explain } from "./api.js";
import { button, field, setText } from "./dom.js";
import { time } from "./format.js";

const form = document.getElementById("token-form");
const list = document.querySelector("#token-list tbody");
const none = document.getElementById("token-none");
const created = document.getElementById("token-created");
const value = document.getElementById("token-value");
const copied = document.getElementById("token-copied");
const error = document.getElementById("token-error");

function show(problem) {
  error.textContent = problem ? explain(problem) : "";
  error.hidden = !problem;
}

async function guarded(work) {
  try {
    show(null);
    await work();
  } catch (problem) {
    if (!(problem instanceof ApiError)) throw problem;
    show(problem);
  }
}

function row(token) {
  const tr = document.getElementById("token-row").content.firstElementChild.cloneNode(true);
  setText(field(tr, "name"), token.name);
  setText(field(tr, "scopes"), token.scopes.join(", "));
  setText(field(tr, "created"), time(token.created_at));
  setText(field(tr, "used"), time(token.last_used_at) || "never");
  setText(field(tr, "expires"), time(token.expires_at) || "never");
  const revoke = button("Revoke", `Revoke ${token.name}`, () =>
    guarded(async () => {
      if (!confirm(`Revoke the token “${token.name}”? Scripts using it stop working at once.`)) return;
      await api("DELETE", `/account/tokens/${token.id}`);
      await refresh();
      form.querySelector("input").focus();
    }),
    "danger",
  );
  field(tr, "actions").append(revoke);
  return tr;
}

async function refresh() {
  const { items } = await api("GET", "/account/tokens");
  list.replaceChildren(...items.map(row));
  none.hidden = items.length > 0;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  guarded(async () => {
    const data = new FormData(form);
    const days = data.get("expires_in_days");
    const token = await api("POST", "/account/tokens", {
      name: data.get("name"),
      scopes: data.getAll("scopes"),
      expires_in_days: days ? Number(days) : null,
    });
    document.getElementById("token-created-name").textContent = token.name;
    value.value = token.token;
    copied.textContent = "";
    created.hidden = false;
    form.reset();
    await refresh();
    value.focus();
    value.select();
  });
});

document.getElementById("token-copy").addEventListener("click", async () => {
  value.select();
  try {
    await navigator.clipboard.writeText(value.value);
    copied.textContent = "Copied to the clipboard.";
  } catch {
    copied.textContent = "Press Ctrl+C (⌘C) to copy the selected token.";
  }
});

guarded(refresh);
