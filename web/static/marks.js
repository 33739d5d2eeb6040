// Shared by the chat and staff pages: a passage with its answering sentences in <mark>.
// Text goes in as text nodes only; the offsets cut it, never change it (as pages.marked does).
window.faqbotMarks = Object.freeze({
  fill(element, text, highlights) {
    // The API counts characters as Python does (code points), not as JavaScript's UTF-16 units.
    const points = Array.from(text);
    const cut = (start, end) => points.slice(start, end).join("");
    const nodes = [];
    let at = 0;
    for (const span of Array.isArray(highlights) ? highlights : []) {
      const [start, end] = Array.isArray(span) ? span : [];
      const fits = Number.isInteger(start) && Number.isInteger(end) && at <= start && start < end && end <= points.length;
      if (!fits) continue; // out of order or out of range: left unmarked, the passage still shows whole
      if (start > at) nodes.push(document.createTextNode(cut(at, start)));
      const mark = document.createElement("mark");
      mark.textContent = cut(start, end);
      nodes.push(mark);
      at = end;
    }
    if (at < points.length || !nodes.length) nodes.push(document.createTextNode(cut(at)));
    element.replaceChildren(...nodes);
  },
});
