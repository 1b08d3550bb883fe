// Entry point: sign-in, sign-out and the hash routes (#jobs, #job=<id>, #config).
import { ApiError, clearKey, getJson, getKey, setKey, setUnauthorizedHandler } from "./lib.js";
import { closeDetail, initDetail, showDetail } from "./detail.js";
import { initJobs, startJobs, stopJobs } from "./jobs.js";
import { resetConfig, showConfig } from "./config.js";

const $ = (id) => document.getElementById(id);

function showSignIn(message) {
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("signin-error").hidden = !message;
  $("api-key").focus();
}

function signOut(message) {
  clearKey();
  stopJobs();
  resetConfig();
  showSignIn(message);
}

/** Check the stored key with one call, then show the page. */
async function enter() {
  try {
    await getJson("/api/v1/jobs?limit=1");
  } catch (err) {
    // A 401 has already signed out (see setUnauthorizedHandler).
    if (!(err instanceof ApiError) || err.status !== 401) showSignIn(`Cannot reach the API: ${err.message}`);
    return;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  await startJobs();
  route();
}

function route() {
  if (!getKey()) return;
  const hash = location.hash.slice(1);
  const config = hash === "config";
  $("jobs-view").hidden = config;
  $("config-view").hidden = !config;
  $("nav-jobs").classList.toggle("current", !config);
  $("nav-config").classList.toggle("current", config);
  const match = /^job=(.+)$/.exec(hash);
  if (config) {
    closeDetail();
    showConfig();
  } else if (match) showDetail(decodeURIComponent(match[1]));
  else closeDetail();
}

setUnauthorizedHandler(() => {
  if (getKey()) signOut("The API key was refused.");
});

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault(); // the key must never travel in a URL or a form post
  const key = $("api-key").value.trim();
  $("api-key").value = "";
  if (!key) return;
  setKey(key);
  enter();
});
$("signout").addEventListener("click", () => signOut(""));
window.addEventListener("hashchange", route);
initJobs();
initDetail();
if (getKey()) enter();
else showSignIn("");
