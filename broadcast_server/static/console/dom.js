// Small DOM helpers. Text is always added as text nodes (never parsed as HTML).

const SVG_NS = 'http://www.w3.org/2000/svg';

function addChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'testid') el.setAttribute('data-testid', value);
    else if (key === 'dataset') for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

/** An HTML element: h('button', {class: 'x', onclick: fn}, 'text', child, ...). */
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

/** A <select> with [value, label] options. */
export function select(props, options, current) {
  const el = h('select', props,
    options.map(([value, label]) => h('option', { value }, label)));
  if (current !== undefined && current !== null) el.value = current;
  return el;
}

/** A labelled field: the label, the control and a place for its error. */
export function field(label, control, { name, hint, wide } = {}) {
  const error = h('p', { class: 'field-error', testid: name ? `error-${name}` : null, hidden: true });
  const wrap = h('div', { class: wide ? 'field wide' : 'field', dataset: name ? { field: name } : undefined },
    h('label', {}, h('span', { class: 'label' }, label), control),
    hint || null,
    error);
  return wrap;
}

/** Download a Blob under a file name (an object URL, revoked afterwards). */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
