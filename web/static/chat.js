// Visitor chat: asks /api/chat without reloading the page. Every piece of text goes in through
// textContent into copies of the <template> elements the server rendered, never through innerHTML.
(() => {
  "use strict";

  const root = document.documentElement;
  root.classList.replace("no-js", "js");

  const conversation = document.getElementById("conversation");
  const form = document.getElementById("ask");
  const input = document.getElementById("message");
  const pending = document.getElementById("pending");
  if (!conversation || !form || !input || !pending) return;

  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  // The question bar is sticky: the page keeps that much room below whatever has the focus
  // (scroll-padding-bottom in site.css), so that Tab never lands on something hidden under it.
  const measureBar = () => root.style.setProperty("--ask-height", form.offsetHeight + "px");
  measureBar();
  if (window.ResizeObserver) new ResizeObserver(measureBar).observe(form);
  let busy = false;
  let crisisCount = 0;
  // The visitor's last questions on this page, oldest first, sent with each new one so that a
  // follow-up ("and how long does that last?") is understood. Only in memory, for this page view.
  const MAX_HISTORY = 3;
  const earlier = [];

  function piece(id) {
    const template = document.getElementById(id);
    return template.content.firstElementChild.cloneNode(true);
  }

  function setText(parent, selector, text) {
    parent.querySelector(selector).textContent = text;
  }

  function reveal(element) {
    element.scrollIntoView({ block: "start", behavior: reduceMotion ? "auto" : "smooth" });
  }

  async function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
  }

  function problem(status, data) {
    if (status === 429) return "You have asked a lot of questions in a short time. Please wait a minute and try again.";
    if (status === 503) return "The assistant is still starting. Please try again in a moment.";
    if (status === 422 && data && data.detail) return "Please check your question: " + data.detail;
    return "Sorry, something went wrong and I could not answer.";
  }

  function answerPiece(answer) {
    const element = piece("tpl-answer");
    setText(element, ".answer-section", answer.section);
    element.dataset.title = answer.title;
    window.faqbotMarks.fill(element.querySelector(".answer-text"), answer.text, answer.highlights);
    return element;
  }

  function feedbackPiece(answerId) {
    const element = piece("tpl-feedback");
    element.elements.answer_id.value = answerId;
    // A random id for this reply's vote, so that changing it replaces it (never anything about the visitor).
    element.elements.voter.value = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
    return element;
  }

  function crisisPiece(notice) {
    const element = piece("tpl-crisis");
    if (notice) setText(element, ".crisis-notice", notice);
    // Each card needs its own id for its accessible name.
    crisisCount += 1;
    const id = "crisis-title-" + crisisCount;
    element.querySelector(".crisis-title").id = id;
    element.setAttribute("aria-labelledby", id);
    return element;
  }

  function relatedPiece(topics) {
    const element = piece("tpl-related");
    const list = element.querySelector(".related-list");
    for (const topic of topics) {
      const item = piece("tpl-topic");
      item.querySelector("input[name=message]").value = topic.question;
      setText(item, "button", topic.section);
      list.appendChild(item);
    }
    return element;
  }

  function replyPiece(data, topics) {
    const reply = piece("tpl-reply");
    const disclaimer = reply.querySelector(".reply-disclaimer");
    disclaimer.textContent = data.disclaimer;
    if (data.language_notice) {
      // On top, where a visitor who reads little English looks first (the crisis card still leads).
      const notice = piece("tpl-language");
      notice.textContent = data.language_notice;
      reply.prepend(notice);
    }
    if (data.crisis) {
      reply.prepend(crisisPiece(data.notice));
    } else if (!data.matched) {
      const fallback = piece("tpl-fallback");
      setText(fallback, ".fallback-notice", data.notice || "");
      reply.insertBefore(fallback, disclaimer);
    } else {
      reply.insertBefore(piece("tpl-intro"), disclaimer);
      for (const answer of data.answers) reply.insertBefore(answerPiece(answer), disclaimer);
      // One vote for the whole reply; it records the first passage, the one the reply leads with.
      if (data.answers.length) reply.appendChild(feedbackPiece(data.answers[0].id));
    }
    if (topics.length) reply.appendChild(relatedPiece(topics));
    return reply;
  }

  function errorPiece(message) {
    const reply = piece("tpl-reply");
    const error = piece("tpl-error");
    setText(error, ".reply-error-text", message);
    reply.replaceChildren(error);
    return reply;
  }

  async function relatedTopics(message, history) {
    // Extra help only: if it fails, the answer still shows.
    try {
      const params = new URLSearchParams({ q: message });
      for (const question of history) params.append("history", question);
      const response = await fetch("/api/related?" + params, { headers: { Accept: "application/json" } });
      if (!response.ok) return [];
      const data = await response.json();
      return Array.isArray(data.topics) ? data.topics : [];
    } catch {
      return [];
    }
  }

  async function ask(message) {
    if (busy) return;
    busy = true;
    const exchange = piece("tpl-exchange");
    setText(exchange, ".question-text", message);
    conversation.appendChild(exchange);
    pending.textContent = "Looking that up…";
    const history = earlier.slice(-MAX_HISTORY);
    earlier.push(message);
    if (earlier.length > MAX_HISTORY) earlier.shift();
    let reply;
    try {
      const response = await postJson("/api/chat", { message, history });
      const data = await response.json().catch(() => null);
      if (!response.ok || !data) {
        reply = errorPiece(problem(response.status, data));
      } else {
        // A fallback offers topics too, so that a phone number is not all the visitor gets.
        const topics = data.crisis ? [] : await relatedTopics(message, history);
        reply = replyPiece(data, topics);
      }
    } catch {
      reply = errorPiece("I could not reach the assistant. Please check your connection and try again.");
    } finally {
      busy = false;
      pending.textContent = "";
    }
    exchange.appendChild(reply);
    reveal(reply.querySelector(".crisis") || exchange);
  }

  // A vote can be changed once: the second replaces the first (it posts the other value). The
  // buttons are never disabled, as a disabled button would drop the keyboard focus to <body>.
  const MAX_VOTES = 2;

  async function vote(feedback, button) {
    const buttons = Array.from(feedback.querySelectorAll("button.vote"));
    const status = feedback.querySelector(".feedback-status");
    const votes = Number(feedback.dataset.votes || 0);
    if (feedback.dataset.sending || button.getAttribute("aria-pressed") === "true" || votes >= MAX_VOTES) return;
    const helpful = button.value === "true";
    feedback.dataset.sending = "true";
    try {
      const body = { answer_id: feedback.elements.answer_id.value, helpful, voter: feedback.elements.voter.value };
      // A "No" carries the question it answered (redacted on the server): what the passage failed to answer.
      const asked = feedback.closest(".exchange")?.querySelector(".question-text");
      if (!helpful && asked) body.question = asked.textContent;
      const response = await postJson("/api/feedback", body);
      if (response.status !== 204) throw new Error(String(response.status));
      feedback.dataset.votes = String(votes + 1);
      for (const each of buttons) each.setAttribute("aria-pressed", each === button ? "true" : "false");
      if (votes + 1 >= MAX_VOTES) {
        for (const each of buttons) each.setAttribute("aria-disabled", "true");
        status.textContent = "Changed to “" + (helpful ? "Yes" : "No") + "”. Thank you for telling us.";
      } else {
        status.textContent = "Thank you for telling us.";
      }
    } catch {
      status.textContent = "Sorry, that did not go through. Please try again.";
    } finally {
      delete feedback.dataset.sending;
    }
  }

  document.addEventListener("submit", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLFormElement)) return;
    if (target.matches("form[data-ask]")) {
      event.preventDefault();
      if (busy) return;
      const field = target.elements.namedItem("message");
      const message = field ? field.value.trim() : "";
      if (!message) {
        input.focus();
        return;
      }
      if (target === form) input.value = "";
      else input.focus(); // a topic button: keep the keyboard where the next question goes
      ask(message);
    } else if (target.matches("form.feedback")) {
      event.preventDefault();
      const button = event.submitter;
      if (button && button.matches("button.vote")) vote(target, button);
    }
  });
})();
