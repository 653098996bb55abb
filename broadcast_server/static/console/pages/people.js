// Accounts: one's own password; for an admin, the people who sign in (create, change name, role and area, disable,
// reset a password) and the access tokens of scripts and Open311 clients (revoke). Screens and their tokens are on
// the screens page. The server refuses an admin's change of their own role or area (it could lock everyone out).

import { api, ApiError } from '../api.js';
import { h, replace } from '../../shared/dom.js';
import { formatTime, t } from '../../shared/i18n.js';
import { areaOptions, describeError, errorLine, field, select, showError } from '../util.js';

const ROLES = ['committee', 'worker', 'admin'];
const roleOptions = () => ROLES.map((r) => [r, t(`role.${r}`)]);

export function render(ctx) {
  let stopped = false;
  const { areaName } = ctx;

  /** A form whose submit runs `action` with its button busy; errors go to its error line, fields' beside them. */
  function guarded(form, button, error, action) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      showError(error, null);
      for (const p of form.querySelectorAll('.field-error')) p.hidden = true;
      button.disabled = true;
      try {
        await action();
      } catch (e) {
        let marked = 0;
        for (const wrap of form.querySelectorAll('[data-field]')) {
          const message = e instanceof ApiError ? e.fieldMessage(wrap.dataset.field) : null;
          const line = wrap.querySelector('.field-error');
          line.textContent = message || '';
          line.hidden = !message;
          if (message) marked += 1;
        }
        if (marked) {
          error.textContent = t('people.fix_fields');
          error.hidden = false;
        } else showError(error, e);
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- my own password
  const mine = h('div', { class: 'card', testid: 'my-account' },
    h('h2', {}, t('people.mine.heading')),
    h('p', { class: 'muted', testid: 'my-name' }, t('people.mine.who', { name: ctx.name, role: t(`role.${ctx.role}`), area: areaName(ctx.scope) })));
  if (ctx.kind === 'user') {
    const current = h('input', { type: 'password', autocomplete: 'current-password', maxlength: 200, testid: 'password-current' });
    const fresh = h('input', { type: 'password', autocomplete: 'new-password', maxlength: 200, testid: 'password-new' });
    const error = errorLine('password-error');
    const submit = h('button', { type: 'submit', class: 'primary', testid: 'password-submit' }, t('people.mine.submit'));
    const form = h('form', { novalidate: true, testid: 'password-form' },
      error,
      h('div', { class: 'grid' },
        field(t('people.mine.current'), current, { name: 'current_password' }),
        field(t('people.mine.new'), fresh, { name: 'new_password', hint: h('p', { class: 'muted' }, t('people.password_rule')) })),
      h('div', { class: 'actions' }, submit));
    guarded(form, submit, error, async () => {
      await api('POST', '/me/password', { body: { current_password: current.value, new_password: fresh.value } });
      form.reset();
      ctx.notify(t('people.mine.done'));
    });
    mine.append(form);
  } else {
    mine.append(h('p', { class: 'muted' }, t('people.mine.token')));
  }

  if (ctx.role !== 'admin') return { el: h('section', { testid: 'page-people' }, mine), stop() { stopped = true; } };

  // ---- people who sign in
  const userRows = h('tbody', { testid: 'user-rows' });
  const usersError = errorLine('users-error');

  const drawUsers = (users) => replace(userRows, users.map((u) => {
    const resetBox = h('span', { class: 'reset', hidden: true });
    const row = h('tr', { testid: 'user-row', dataset: { name: u.name, disabled: u.disabled_at ? 'true' : 'false' } },
      h('td', {}, h('div', { class: 'title' }, u.display_name), h('div', { class: 'muted' }, u.name)),
      h('td', {}, t(`role.${u.role}`)),
      h('td', {}, areaName(u.area)),
      h('td', {}, u.disabled_at
        ? h('span', { class: 'badge off', testid: 'user-state' }, t('people.user.disabled'))
        : h('span', { class: 'badge ok', testid: 'user-state' }, t('people.user.active'))),
      h('td', { class: 'row-actions' }, u.disabled_at ? null : [
        h('button', { type: 'button', class: 'small', testid: 'user-edit', onclick: () => toggleEdit(u, row) }, t('people.user.edit')),
        h('button', { type: 'button', class: 'small', testid: 'user-reset', onclick: () => { resetBox.hidden = !resetBox.hidden; } }, t('people.user.reset')),
        h('button', { type: 'button', class: 'danger small', testid: 'user-disable', onclick: () => disable(u) }, t('people.user.disable')),
        resetBox,
      ]));
    const password = h('input', { type: 'password', autocomplete: 'new-password', maxlength: 200, testid: 'user-reset-password',
      'aria-label': t('people.user.new_password'), placeholder: t('people.user.new_password') });
    const save = h('button', { type: 'button', class: 'primary small', testid: 'user-reset-save' }, t('people.user.reset_save'));
    save.addEventListener('click', async () => {
      save.disabled = true;
      try {
        await api('PATCH', `/users/${encodeURIComponent(u.name)}`, { body: { password: password.value } });
        ctx.notify(t('people.user.reset_done', { name: u.display_name }));
        resetBox.hidden = true;
        password.value = '';
      } catch (e) {
        ctx.notify(describeError(e), 'bad');
      } finally {
        save.disabled = false;
      }
    });
    resetBox.append(password, save);
    return row;
  }));

  /** Open (or close again) a form under the person's row for their display name, role and area. */
  function toggleEdit(u, row) {
    const open = row.nextElementSibling;
    if (open && open.dataset.testid === 'user-edit-row') {
      open.remove();
      return;
    }
    const edit = {
      display: h('input', { type: 'text', maxlength: 100, value: u.display_name, testid: 'user-edit-display-name' }),
      role: select({ testid: 'user-edit-role' }, roleOptions(), u.role),
      area: select({ testid: 'user-edit-area' }, areaOptions(ctx.areas), u.area),
    };
    const error = errorLine('user-edit-error');
    const save = h('button', { type: 'submit', class: 'primary', testid: 'user-edit-save' }, t('people.user.edit_save'));
    const form = h('form', { class: 'edit-person', novalidate: true, testid: 'user-edit-form' },
      h('h3', {}, t('people.user.edit_heading', { name: u.display_name })),
      error,
      h('div', { class: 'grid' },
        field(t('people.add.display_name'), edit.display, { name: 'display_name' }),
        field(t('people.add.role'), edit.role, { name: 'role' }),
        field(t('people.add.area'), edit.area, { name: 'area' })),
      h('div', { class: 'actions' },
        h('button', { type: 'button', testid: 'user-edit-cancel', onclick: () => editRow.remove() }, t('people.user.edit_cancel')),
        save));
    guarded(form, save, error, async () => {
      const changed = await api('PATCH', `/users/${encodeURIComponent(u.name)}`, {
        body: { display_name: edit.display.value.trim(), role: edit.role.value, area: edit.area.value },
      });
      ctx.notify(t('people.user.edit_done', { name: changed.display_name }));
      await load();
    });
    const editRow = h('tr', { class: 'user-edit', testid: 'user-edit-row' }, h('td', { colspan: 5 }, form));
    row.after(editRow);
    edit.display.focus();
  }

  async function disable(u) {
    if (!(await ctx.confirm(t('people.user.disable_confirm', { name: u.display_name }), { yes: t('people.user.disable') }))) return;
    try {
      await api('PATCH', `/users/${encodeURIComponent(u.name)}`, { body: { disabled: true } });
      ctx.notify(t('people.user.disable_done', { name: u.display_name }));
      await load();
    } catch (e) {
      ctx.notify(describeError(e), 'bad');
    }
  }

  const add = {
    name: h('input', { type: 'text', maxlength: 40, autocapitalize: 'none', spellcheck: 'false', testid: 'user-add-name' }),
    display: h('input', { type: 'text', maxlength: 100, testid: 'user-add-display-name' }),
    role: select({ testid: 'user-add-role' }, roleOptions(), 'committee'),
    area: select({ testid: 'user-add-area' }, areaOptions(ctx.areas), ctx.scope),
    password: h('input', { type: 'password', autocomplete: 'new-password', maxlength: 200, testid: 'user-add-password' }),
  };
  const addError = errorLine('user-add-error');
  const addSubmit = h('button', { type: 'submit', class: 'primary', testid: 'user-add-submit' }, t('people.add.submit'));
  const addForm = h('form', { class: 'add-person', novalidate: true, testid: 'user-add-form' },
    h('h3', {}, t('people.add.heading')),
    addError,
    h('div', { class: 'grid' },
      field(t('people.add.name'), add.name, { name: 'name', hint: h('p', { class: 'muted' }, t('people.add.name_rule')) }),
      field(t('people.add.display_name'), add.display, { name: 'display_name' }),
      field(t('people.add.role'), add.role, { name: 'role' }),
      field(t('people.add.area'), add.area, { name: 'area' }),
      field(t('people.add.password'), add.password, { name: 'password', hint: h('p', { class: 'muted' }, t('people.password_rule')) })),
    h('div', { class: 'actions' }, addSubmit));
  guarded(addForm, addSubmit, addError, async () => {
    const created = await api('POST', '/users', {
      body: { name: add.name.value, display_name: add.display.value.trim(), role: add.role.value, area: add.area.value, password: add.password.value },
    });
    addForm.reset();
    add.area.value = ctx.scope;
    ctx.notify(t('people.add.done', { name: created.display_name, login: created.name }));
    await load();
  });

  // ---- access tokens (scripts, Open311 clients); a screen's token is revoked with its screen
  const tokenRows = h('tbody', { testid: 'token-rows' });
  const tokensEmpty = h('p', { class: 'muted', testid: 'tokens-empty', hidden: true }, t('people.tokens.empty'));
  const drawTokens = (tokens) => {
    const people = tokens.filter((tk) => tk.role !== 'screen');
    tokensEmpty.hidden = people.length > 0;
    replace(tokenRows, people.map((tk) => h('tr', { testid: 'token-row', dataset: { id: tk.id } },
      h('td', { class: 'title' }, tk.name),
      h('td', {}, t(`role.${tk.role}`)),
      h('td', {}, areaName(tk.area)),
      h('td', { class: 'time' }, formatTime(tk.created_at)),
      h('td', {}, h('button', { type: 'button', class: 'danger small', testid: 'token-revoke', onclick: () => revoke(tk) }, t('people.tokens.revoke'))))));
  };

  async function revoke(tk) {
    if (!(await ctx.confirm(t('people.tokens.revoke_confirm', { name: tk.name }), { yes: t('people.tokens.revoke') }))) return;
    try {
      await api('DELETE', `/tokens/${encodeURIComponent(tk.id)}`);
      ctx.notify(t('people.tokens.revoke_done', { name: tk.name }));
      await load();
    } catch (e) {
      ctx.notify(describeError(e), 'bad');
    }
  }

  async function load() {
    try {
      const [users, tokens] = await Promise.all([api('GET', '/users'), api('GET', '/tokens')]);
      if (stopped) return;
      drawUsers(users);
      drawTokens(tokens);
      showError(usersError, null);
    } catch (e) {
      if (!stopped) showError(usersError, e);
    }
  }
  load();

  const table = (heads, body) => h('div', { class: 'table-wrap' },
    h('table', { class: 'list' }, h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x)))), body));

  const el = h('section', { testid: 'page-people' },
    h('div', { class: 'card' },
      h('h2', {}, t('people.users.heading')),
      usersError,
      table([t('people.col.person'), t('people.col.role'), t('people.col.area'), t('people.col.state'), ''], userRows),
      addForm),
    h('div', { class: 'card' },
      h('h2', {}, t('people.tokens.heading')),
      h('p', { class: 'muted' }, t('people.tokens.hint')),
      table([t('people.col.token'), t('people.col.role'), t('people.col.area'), t('people.col.created'), ''], tokenRows),
      tokensEmpty),
    mine);
  return { el, stop() { stopped = true; } };
}
