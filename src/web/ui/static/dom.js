// DOM helpers the pages share: a template row's fields, and controls with a full accessible name.
export function field(row, name) {
  return row.querySelector(`[data-field="${name}"]`);
}

// Change text only when it differs, so live regions and screen readers hear real changes only.
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

export function button(text, label, handler, className = "") {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.setAttribute("aria-label", label);
  if (className) element.className = className;
  element.addEventListener("click", handler);
  return element;
}

export function link(text, href, label, className = "button") {
  const anchor = document.createElement("a");
  anchor.className = className;
  anchor.href = href;
  anchor.textContent = text;
  anchor.setAttribute("aria-label", label);
  return anchor;
}
