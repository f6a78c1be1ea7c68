// Refreshes the operator dashboard's panels in place: fetch the fragment, swap it in.
// A failed refresh says so on the page and tries again at the next tick; a lost session
// (the fragment answers with the login page) stops refreshing and asks for a reload.
(function () {
  "use strict";
  var root = document.getElementById("dashboard-panels");
  if (!root) {
    return;
  }
  var status = document.getElementById("dashboard-refresh-status");
  var seconds = Number(root.getAttribute("data-refresh-seconds")) || 15;
  var timer = null;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function refresh() {
    fetch(root.getAttribute("data-refresh-url"), {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        if (response.redirected || response.headers.get("X-Dashboard-Fragment") !== "1") {
          window.clearInterval(timer);
          say("Signed out: reload the page to sign in again.");
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        root.innerHTML = html;
        root.setAttribute("data-refreshes", String(Number(root.getAttribute("data-refreshes") || "0") + 1));
        say("");
      })
      .catch(function (error) {
        say("Refresh failed (" + error.message + "); trying again in " + seconds + " s.");
      });
  }

  timer = window.setInterval(refresh, seconds * 1000);
})();
