// 发送范围: whom a notice goes to (the area tree, the tags devices carry, single devices) and whom that reaches now
// ("将送达 12 块屏幕、5 个喇叭", asked of the server: the hub's own rule). Compose and the timed broadcasts use it.

import { api } from './api.js';
import { h, replace } from '../shared/dom.js';
import { label, t } from '../shared/i18n.js';
import { areaName, areaTree, describeError } from './util.js';

const REACH_DELAY_MS = 250; // ask once the clerk stops ticking boxes

/** "将送达 12 块屏幕、5 个喇叭": the reach as a person reads it. */
function reachText(reach) {
  return reach.screens + reach.speakers ? t('compose.reach', reach) : t('compose.reach.none');
}

/**
 * The target fieldset. `target()` is what the clerk chose (null: the clerk's whole scope), `set(target)` ticks
 * a stored one (boxes the clerk cannot pick stay unticked), `reach()` the last answer (null while asking),
 * `askReach()` asks now, `reset()` follows a form reset, `stop()` cancels a pending question.
 */
export function targetPicker(ctx) {
  let reach = null; // {screens, speakers} of the target as it is now, once the server has answered
  let reachAsked = 0;
  let reachTimer = null;

  const areaBoxes = [];
  const treeList = (nodes) => h('ul', { class: 'tree' }, nodes.map((node) => {
    const box = h('input', { type: 'checkbox', value: node.path, testid: 'target-area', dataset: { path: node.path } });
    areaBoxes.push(box);
    return h('li', {},
      h('label', { class: 'check' }, box, h('span', {}, areaName(ctx.areas, node.path))),
      node.children.length ? treeList(node.children) : null);
  }));
  const tree = treeList(areaTree(ctx.areas));
  const coverChildren = () => {
    // an area covers everything below it: those boxes are shown as included
    for (const box of areaBoxes) {
      const covered = areaBoxes.some((other) => other !== box && other.checked
        && (other.value === '/' ? box.value !== '/' : box.value.startsWith(other.value + '/')));
      box.disabled = covered;
      box.closest('label').classList.toggle('covered', covered);
    }
  };
  tree.addEventListener('change', coverChildren);

  const pickList = (testid) => h('div', { class: 'picks', testid }, h('p', { class: 'muted' }, t('common.loading')));
  const tagList = pickList('target-tags');
  const screenList = pickList('target-screens');
  const tagsLoaded = api('GET', '/screens/tags').then((tags) => {
    replace(tagList, tags.length
      ? tags.map((tag) => h('label', { class: 'check chip' },
        h('input', { type: 'checkbox', value: tag, testid: 'target-tag', dataset: { tag } }), h('span', {}, tag)))
      : h('p', { class: 'muted' }, t('compose.tags.none')));
  }).catch((e) => replace(tagList, h('p', { class: 'error' }, describeError(e))));
  const screensLoaded = api('GET', '/screens').then((screens) => {
    replace(screenList, screens.length
      ? screens.map((sc) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', value: sc.id, testid: 'target-screen', dataset: { id: sc.id } }),
        h('span', {}, sc.name), h('span', { class: 'muted small' }, `${label('kind', sc.kind)} · ${areaName(ctx.areas, sc.area)}`)))
      : h('p', { class: 'muted' }, t('compose.screens.none')));
  }).catch((e) => replace(screenList, h('p', { class: 'error' }, describeError(e))));

  const reachLine = h('p', { class: 'reach', testid: 'compose-reach', role: 'status', 'aria-live': 'polite' }, t('compose.reach.wait'));
  const targetError = h('p', { class: 'field-error', testid: 'error-target', hidden: true }); // filled by the form's field errors

  const el = h('fieldset', { class: 'target', dataset: { field: 'target' } },
    h('legend', {}, t('compose.target')),
    h('p', { class: 'muted' }, t('compose.target.hint')),
    h('div', { class: 'target-grid' },
      h('div', {}, h('h3', {}, t('compose.target.areas')), tree),
      h('div', {},
        h('h3', {}, t('compose.tags.heading')), tagList,
        h('h3', {}, t('compose.target.screens')), screenList)),
    reachLine,
    targetError);

  const target = () => {
    const chosen = {
      areas: areaBoxes.filter((b) => b.checked && !b.disabled).map((b) => b.value),
      tags: [...tagList.querySelectorAll('input:checked')].map((b) => b.value),
      screens: [...screenList.querySelectorAll('input:checked')].map((b) => b.value),
    };
    return chosen.areas.length || chosen.tags.length || chosen.screens.length ? chosen : null;
  };

  /** Ask the server whom the target reaches now (a question waiting for its delay is then dropped); an older
   * question answers with the newest one's answer, never with the nothing known while both were out. */
  let newest = null;
  const askReach = () => {
    clearTimeout(reachTimer);
    newest = ask(++reachAsked);
    return newest;
  };
  const ask = async (asked) => {
    try {
      const answer = await api('POST', '/announcements/reach', { body: { target: target() } });
      if (asked !== reachAsked) return newest;
      reach = answer;
      reachLine.textContent = reachText(reach);
      reachLine.classList.toggle('none', !(reach.screens + reach.speakers));
      reachLine.dataset.screens = reach.screens;
      reachLine.dataset.speakers = reach.speakers;
    } catch (e) {
      if (asked !== reachAsked) return newest;
      reach = null;
      reachLine.textContent = describeError(e);
      reachLine.classList.add('none');
    }
    return reach;
  };
  const changed = () => {
    reach = null;
    delete reachLine.dataset.screens;
    delete reachLine.dataset.speakers;
    reachLine.textContent = t('compose.reach.wait');
    clearTimeout(reachTimer);
    reachTimer = setTimeout(askReach, REACH_DELAY_MS);
  };
  el.addEventListener('change', changed);
  askReach();

  const set = async (stored) => {
    await Promise.allSettled([tagsLoaded, screensLoaded]);
    const chosen = stored || {};
    const tick = (boxes, values) => { for (const box of boxes) box.checked = (values || []).includes(box.value); };
    tick(areaBoxes, chosen.areas);
    tick(tagList.querySelectorAll('input'), chosen.tags);
    tick(screenList.querySelectorAll('input'), chosen.screens);
    coverChildren();
    changed();
  };
  const reset = () => {
    coverChildren();
    changed();
  };
  return { el, target, set, reset, askReach, reach: () => reach, stop: () => clearTimeout(reachTimer) };
}
