// Building elements, shared by the committee console and the kiosk. Text is always added as text
// nodes (never parsed as HTML): whatever a villager typed or the server sent shows as itself.

const SVG_NS = 'http://www.w3.org/2000/svg';

function addChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/**
 * Properties: `class`, `testid` (data-testid), `dataset` ({key: value}), `text` (the text content),
 * `onclick` and other `on...` functions (listeners), `value`/`checked`/`selected` (set as properties);
 * anything else is an attribute (true: present and empty). null, undefined and false leave it out.
 */
function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'testid') el.setAttribute('data-testid', value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

/** An HTML element: h('button', {class: 'x', onclick: fn}, 'text', child, [more], ...). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  addChildren(el, children);
  return el;
}

/** An SVG element, for charts. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  addChildren(el, children);
  return el;
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  addChildren(el, children);
  return el;
}

/** The first element with this data-testid under `root`. */
export function byTestId(testid, root = document) {
  return root.querySelector(`[data-testid="${testid}"]`);
}
