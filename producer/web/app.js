// The Batch Dials page: sign-in with an API key, then the views by URL fragment:
// #/jobs (the list), #/jobs/<id> (one job), #/new (a job from a CSV file), #/webhooks
// (the workspace's webhook endpoints and their recent deliveries), #/numbers (its caller-ID
// numbers and their health).

import { api, apiKey, jobsPath, setApiKey, whenUnauthorized } from "./api.js";
import { showCreate } from "./create.js";
import { announce } from "./dom.js";
import { showJob } from "./job.js";
import { showJobs } from "./jobs.js";
import { showNumbers } from "./numbers.js";
import { showWebhooks } from "./webhooks.js";

const login = document.getElementById("login");
const view = document.getElementById("view");
const nav = document.getElementById("nav");
const loginError = document.getElementById("login-error");
let stopView = () => {};

function signedIn(yes) {
  login.hidden = yes;
  view.hidden = !yes;
  nav.hidden = !yes;
}

function route() {
  stopView();
  stopView = () => {};
  if (!apiKey()) {
    signedIn(false);
    view.replaceChildren();
    document.getElementById("api-key").focus();
    return;
  }
  signedIn(true);
  const hash = location.hash || "#/jobs";
  const job = /^#\/jobs\/(.+)$/.exec(hash);
  if (job) {
    stopView = showJob(view, decodeURIComponent(job[1]));
  } else if (hash === "#/webhooks") {
    document.title = "Webhooks — batchdial";
    stopView = showWebhooks(view);
  } else if (hash === "#/numbers") {
    document.title = "Numbers — batchdial";
    stopView = showNumbers(view);
  } else if (hash === "#/new") {
    let stop = () => {};
    showCreate(view, navigate).then((s) => { stop = s; });
    stopView = () => stop();
  } else {
    document.title = "Batch Dials — batchdial";
    stopView = showJobs(view);
    view.querySelector("h1")?.setAttribute("tabindex", "-1");
    view.querySelector("h1")?.focus();
  }
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === (job ? "#/jobs" : hash)) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

whenUnauthorized(() => {
  if (!apiKey()) return;
  setApiKey(null);
  loginError.textContent = "The API key was not accepted (or was revoked). Enter it again.";
  route();
});

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("api-key");
  const key = input.value.trim();
  loginError.textContent = "";
  if (!key) {
    loginError.textContent = "Enter your API key.";
    input.focus();
    return;
  }
  try {
    await api(`${jobsPath()}?limit=1`, { key });
  } catch (err) {
    loginError.textContent = err.status === 401
      ? "This API key was not accepted. Check it and try again."
      : `Cannot sign in: ${err.message}`;
    input.focus();
    return;
  }
  setApiKey(key);
  input.value = "";
  announce("Signed in.");
  route();
});

document.getElementById("signout").addEventListener("click", () => {
  setApiKey(null);
  loginError.textContent = "";
  announce("Signed out.");
  route();
});

window.addEventListener("hashchange", route);
route();
