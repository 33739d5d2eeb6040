// The embeddable chat: <script src="https://YOUR-BOT/widget.js" defer></script> on any page adds a
// button that opens the chat (served at /embed on the bot's own origin) in a panel with an iframe.
// Styles are set through element.style (the CSSOM), which the host page's own CSP cannot block,
// and nothing else is read from or sent to the host page.
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || window.faqbotWidget) return;
  const origin = new URL(script.src, window.location.href).origin;
  const label = script.dataset.label || "Questions? Ask us";
  const title = script.dataset.title || "Chat with our FAQ assistant";
  const colour = script.dataset.colour || "#0d5a5f";
  let frame = null;
  let opener = null;

  function style(element, rules) {
    for (const [name, value] of Object.entries(rules)) element.style.setProperty(name, value);
  }

  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "faqbot-panel");
  button.className = "faqbot-launcher";
  style(button, {
    position: "fixed", right: "16px", bottom: "16px", "z-index": "2147483000",
    "min-height": "48px", padding: "0 20px", border: "0", "border-radius": "999px",
    background: colour, color: "#ffffff", font: "600 16px/1 system-ui, sans-serif",
    cursor: "pointer", "box-shadow": "0 2px 10px rgba(0,0,0,.25)",
  });

  const panel = document.createElement("div");
  panel.id = "faqbot-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  panel.hidden = true;
  style(panel, {
    position: "fixed", right: "16px", bottom: "76px", "z-index": "2147483000",
    width: "min(400px, calc(100vw - 32px))", height: "min(640px, calc(100vh - 100px))",
    background: "#ffffff", "border-radius": "14px", overflow: "hidden",
    "box-shadow": "0 8px 30px rgba(0,0,0,.3)", "flex-direction": "column",
  });

  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "Close ×";
  close.setAttribute("aria-label", "Close the chat");
  style(close, {
    "align-self": "flex-end", margin: "4px", "min-height": "36px", padding: "0 12px",
    border: "0", "border-radius": "999px", background: "#f0f0f0", color: "#1b1b1b",
    font: "600 15px/1 system-ui, sans-serif", cursor: "pointer",
  });
  panel.appendChild(close);

  function open() {
    if (!frame) {
      // Loaded on first open only: a page with the widget costs the bot nothing until it is used.
      frame = document.createElement("iframe");
      frame.src = origin + "/embed";
      frame.title = title;
      frame.setAttribute("referrerpolicy", "no-referrer");
      style(frame, { flex: "1", width: "100%", border: "0" });
      panel.appendChild(frame);
    }
    opener = document.activeElement;
    panel.hidden = false;
    panel.style.setProperty("display", "flex");
    button.setAttribute("aria-expanded", "true");
    frame.focus();
  }

  function hide() {
    panel.hidden = true;
    panel.style.setProperty("display", "none");
    button.setAttribute("aria-expanded", "false");
    (opener instanceof HTMLElement ? opener : button).focus();
  }

  button.addEventListener("click", () => (panel.hidden ? open() : hide()));
  close.addEventListener("click", hide);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hide();
  });

  function mount() {
    document.body.appendChild(panel);
    document.body.appendChild(button);
  }
  window.faqbotWidget = { open, close: hide };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
