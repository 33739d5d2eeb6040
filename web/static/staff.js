// Staff lookup: results as you type, arrow keys through them, Enter copies passage + disclaimer.
// Text goes into copies of the server's <template> with textContent only.
(() => {
  "use strict";

  document.documentElement.classList.replace("no-js", "js");

  const form = document.getElementById("search");
  const input = document.getElementById("q");
  const list = document.getElementById("results");
  const status = document.getElementById("status");
  const version = document.getElementById("index-version");
  const disclaimer = document.getElementById("disclaimer").textContent.trim();
  const template = document.getElementById("tpl-result");
  const noAnswer = document.getElementById("no-answer");
  const DEBOUNCE_MS = 200;
  const RESULTS = 10;

  let timer = 0;
  let latest = 0; // only the newest request may draw: typing fast must not show older results last
  let shown = input.value.trim();

  function items() {
    return Array.from(list.querySelectorAll(".result"));
  }

  function select(index, focus = true) {
    const all = items();
    if (!all.length) return;
    const target = all[Math.max(0, Math.min(index, all.length - 1))];
    for (const item of all) {
      const current = item === target;
      item.setAttribute("aria-current", current ? "true" : "false");
      item.tabIndex = current ? 0 : -1;
    }
    if (focus) target.focus();
  }

  function resultPiece(result, rank) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.id = result.id;
    item.querySelector(".result-rank").textContent = String(rank);
    item.querySelector(".result-score").textContent = result.score.toFixed(2);
    item.querySelector(".result-section").textContent = result.section;
    item.querySelector(".result-title").textContent = result.title;
    item.querySelector(".result-id").textContent = result.id;
    window.faqbotMarks.fill(item.querySelector(".result-text"), result.text, result.highlights);
    // Greyed, still readable: a passage the visitor page would not show for this question.
    const unshown = result.shown === false;
    item.classList.toggle("unshown", unshown);
    item.querySelector(".result-unshown").hidden = !unshown;
    return item;
  }

  function plural(count) {
    return count + (count === 1 ? " result" : " results");
  }

  function remember(query) {
    // The address always holds the search, so it can be shared or reloaded.
    const url = new URL(window.location.href);
    if (query) url.searchParams.set("q", query);
    else url.searchParams.delete("q");
    window.history.replaceState(null, "", url);
  }

  async function search(query) {
    window.clearTimeout(timer);
    const ticket = ++latest;
    if (!query) {
      list.replaceChildren();
      noAnswer.hidden = true;
      status.textContent = "Type a question or a few words.";
      shown = "";
      remember("");
      return;
    }
    if (query === shown && items().length) return;
    try {
      const params = new URLSearchParams({ q: query, k: String(RESULTS) });
      const response = await fetch("/api/search?" + params, { headers: { Accept: "application/json" } });
      const data = await response.json().catch(() => null);
      if (ticket !== latest) return;
      if (!response.ok || !data) {
        status.textContent = (data && data.detail) || "The search failed (" + response.status + ").";
        return;
      }
      list.replaceChildren(...data.results.map((result, i) => resultPiece(result, i + 1)));
      if (version && data.index_version) version.textContent = data.index_version;
      const unanswered = data.matched === false;
      noAnswer.hidden = !unanswered;
      status.textContent = (unanswered ? "No vetted answer. " : "") + plural(data.results.length) + " for “" + query + "”";
      shown = query;
      remember(query);
    } catch {
      if (ticket === latest) status.textContent = "The search could not reach the server.";
    }
  }

  async function copy(item) {
    const text = item.querySelector(".result-text").textContent + "\n\n" + disclaimer;
    let done = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        done = true;
      } catch {
        done = false;
      }
    }
    if (!done) done = copyByCommand(text);
    const rank = item.querySelector(".result-rank").textContent;
    status.textContent = done
      ? "Copied passage " + rank + " and the disclaimer."
      : "Could not copy: select the passage and copy it by hand.";
    if (done) {
      for (const each of items()) each.classList.toggle("copied", each === item);
    }
  }

  function copyByCommand(text) {
    // Plain http on an office network is not a secure context, so the Clipboard API is missing there.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    const focused = document.activeElement;
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    if (focused instanceof HTMLElement) focused.focus();
    return ok;
  }

  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => search(input.value.trim()), DEBOUNCE_MS);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    search(input.value.trim());
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && items().length) {
      event.preventDefault();
      select(0);
    }
  });

  list.addEventListener("keydown", (event) => {
    const item = event.target.closest(".result");
    if (!item) return;
    const index = items().indexOf(item);
    const onItem = event.target === item; // on its Copy button, Enter presses the button instead
    if (event.key === "ArrowDown") {
      event.preventDefault();
      select(index + 1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      if (index === 0) input.focus();
      else select(index - 1);
    } else if (event.key === "Home") {
      event.preventDefault();
      select(0);
    } else if (event.key === "End") {
      event.preventDefault();
      select(items().length - 1);
    } else if (event.key === "Escape") {
      event.preventDefault();
      input.focus();
    } else if (event.key === "Enter" && onItem) {
      event.preventDefault();
      copy(item);
    }
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest(".copy-button");
    if (!button) return;
    const item = button.closest(".result");
    select(items().indexOf(item), false);
    copy(item);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && (target.isContentEditable || target.matches("input, textarea, select"))) return;
    event.preventDefault();
    input.focus();
    input.select();
  });

  // Staff fold the disclaimer to fit more results; it stays folded in this browser until unfolded.
  // Copying is unchanged: the disclaimer is read from the page, folded or not.
  const fold = document.getElementById("readout-fold");
  const FOLD_KEY = "faqbot.staff.readout";
  try {
    if (window.localStorage.getItem(FOLD_KEY) === "folded") fold.open = false;
    fold.addEventListener("toggle", () => window.localStorage.setItem(FOLD_KEY, fold.open ? "open" : "folded"));
  } catch {
    // Storage may be switched off; the fold still works, it is just not remembered.
  }

  // The server may have rendered ?q= already; focus lands in the box either way.
  if (document.activeElement !== input) input.focus();
})();
