// Embed widget for flask-urgentaction. Built by `npm run build` into
// src/flask_urgentaction/static/widget.js; edit this file, not that one.
// Every visible word comes from the campaign JSON, so this file carries no
// dictionaries and no text of its own.
(() => {
  // currentScript is only set while this file first runs, so read it now.
  // The fallback covers hosts that inject the script in odd ways.
  const me = document.currentScript ||
    [].filter.call(document.scripts, s => /\/widget\.js([?#]|$)/.test(s.src)).pop();
  const base = me ? me.src.replace(/\/widget\.js([?#].*)?$/, '') : '';
  // The API uses no cookies; never send the host's or ours.
  const opts = { mode: 'cors', credentials: 'omit' };

  // Build DOM without innerHTML: strings always become text nodes.
  const h = (tag, attrs, ...kids) => {
    const el = document.createElement(tag);
    for (const k in attrs) {
      const v = attrs[k];
      if (v != null && v !== false) el.setAttribute(k, v === true ? '' : v);
    }
    // Falsy kids (from `cond && h(...)`, or missing strings) are skipped.
    el.append(...kids.filter(Boolean));
    return el;
  };

  // Links come from the server; still refuse anything that could run script.
  const safe = u => {
    try {
      u = new URL(u, base);
      return /^(https?|mailto):$/.test(u.protocol) ? u.href : null;
    } catch (e) {
      return null;
    }
  };
  const link = (href, text) =>
    (href = safe(href)) && h('a', { href, target: '_blank', rel: 'noopener' }, text);

  const css =
    // all:initial on both the host and our root: host CSS cannot reach inside,
    // and inherited properties it forces onto the host element stop at .r.
    // Custom properties are not reset by `all`, so --ua-* still come through.
    // display is !important because a host rule like `* {display:inline !important}`
    // would otherwise win over ours on the host element itself.
    ':host{all:initial;display:block!important}:host([hidden]){display:none!important}' +
    '.r{all:initial;display:block;position:relative;overflow:hidden;box-sizing:border-box;' +
    'max-width:var(--ua-max-width,40em);padding:1em;' +
    // px, not rem: rem would follow the host page's root font size.
    'font:16px/1.5 var(--ua-font,system-ui,sans-serif);color:var(--ua-text,#1b1b1b);' +
    'background:var(--ua-bg,#fff);border:1px solid var(--ua-border,#767676);border-radius:var(--ua-radius,6px)}' +
    '*{box-sizing:inherit}' +
    'h2{font-size:1.4em;line-height:1.2;margin:0 0 .5em}h3{font-size:1.2em;margin:0 0 .5em}' +
    'p,ul{margin:0 0 .75em}a{color:inherit}' +
    '.f{margin:0 0 1em}label{display:block;font-weight:600}.d{margin:0;font-size:.9em}' +
    // 16px in fields keeps iOS from zooming in on focus.
    'input,select,textarea,button{font:inherit;color:inherit;margin:0}' +
    'input,select,textarea{display:block;width:100%;padding:.5em;background:var(--ua-bg,#fff);' +
    'border:1px solid var(--ua-border,#767676);border-radius:var(--ua-radius,6px)}' +
    'textarea{resize:vertical}' +
    '.t{white-space:pre-wrap;padding:0 .75em;border-inline-start:3px solid var(--ua-border,#767676)}' +
    // The checkbox beside its label, the label wrapping next to it on a phone.
    '.c{display:flex;flex-wrap:wrap;gap:.5em;align-items:flex-start}' +
    '.c input{width:1.25em;height:1.25em;margin:.15em 0 0;flex:none}.c label{flex:1;font-weight:400}' +
    '[aria-invalid=true]{border-color:var(--ua-error,#b3261e);border-width:2px}' +
    '.e,.s{color:var(--ua-error,#b3261e);font-weight:600}.e{margin:.25em 0 0;flex-basis:100%}.e:empty{display:none}' +
    'button{background:var(--ua-accent,#b5121b);color:var(--ua-accent-text,#fff);border:0;' +
    'border-radius:var(--ua-radius,6px);padding:.6em 1.5em;font-weight:700;cursor:pointer}' +
    'button:disabled{opacity:.7;cursor:progress}' +
    ':focus-visible{outline:3px solid var(--ua-accent,#b5121b);outline-offset:2px}' +
    'progress{display:block;width:100%;accent-color:var(--ua-accent,#b5121b)}' +
    // The honeypot: out of sight on the inline-start side. Pushed past the
    // end side instead (left in RTL) it would make the root scrollable by
    // 10000px, even with overflow:hidden; past the start nothing can scroll.
    '.h{position:absolute;inset-inline-start:-9999px;top:0;width:1px;height:1px;overflow:hidden}';

  // One constructed stylesheet shared by every widget on the page. Unlike a
  // <style> element it is not inline style to the host page's CSP, so hosts
  // with a strict style-src need no exception for us.
  let sheet;
  const attach = (el, root) => {
    const shadow = el.attachShadow({ mode: 'open' });
    try {
      if (!sheet) {
        const s = new CSSStyleSheet();
        s.replaceSync(css);
        sheet = s;
      }
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) {
      shadow.append(h('style', {}, css)); // browsers before constructable stylesheets
    }
    shadow.append(root);
  };

  const render = (el, c, api) => {
    const L = c.labels;
    const slug = c.slug;
    const ctl = new Map(); // field name -> control, for errors from the server
    const status = h('div', { part: 'status', class: 's', role: 'status', 'aria-live': 'polite' });
    const say = t => { status.textContent = t || L.error_generic; };
    const meter = (text, n) => h('p', { part: 'count' }, text,
      c.goal && h('progress', { max: c.goal, value: n, 'aria-hidden': 'true' }));
    const count = meter(c.count_text, c.count);

    // One labelled field; the error paragraph is always there (empty when
    // there is no error) so aria-describedby never points at nothing.
    const field = (name, label, control, help, cls) => {
      const id = 'ua-' + name;
      control.id = id;
      control.name = name;
      control.setAttribute('part', 'input');
      control.setAttribute('aria-describedby', (help ? id + '-h ' : '') + id + '-e');
      ctl.set(name, control);
      return h('div', { part: 'field', class: cls || 'f' },
        h('label', { for: id, part: 'label' }, label),
        help && h('p', { id: id + '-h', class: 'd' }, help),
        control,
        h('p', { id: id + '-e', part: 'error', class: 'e' }));
    };
    const input = a => h('input', a);
    const setErr = (name, msg) => {
      const x = ctl.get(name);
      x.setAttribute('aria-invalid', !!msg);
      x.parentNode.lastChild.textContent = msg || '';
    };

    let form = null;
    if (c.status != 'closed') {
      let token = c.challenge.token;
      const btn = h('button', { type: 'submit', part: 'submit' }, L.submit);
      // No box when the server cannot mail the confirmation link.
      const opt = c.opt_in !== false &&
        field('opt_in', L.opt_in, input({ type: 'checkbox' }), null, 'f c');
      // The checkbox goes before its label.
      if (opt) opt.prepend(opt.children[1]);
      const chal = field('challenge_answer', c.challenge.question,
        input({ inputmode: 'numeric', autocomplete: 'off', required: true }));
      const q = chal.firstChild;
      form = h('form', { part: 'form', novalidate: true },
        field('name', L.name, input({ autocomplete: 'name', required: true })),
        field('email', L.email, input({ type: 'email', autocomplete: 'email', required: true })),
        field('union', L.union, input({}), L.union_help),
        field('country', L.country, h('select', { autocomplete: 'country' },
          h('option', { value: '' }, L.country_choose),
          ...(c.countries || []).map(([code, name]) => h('option', { value: code }, name)))),
        field('subject', L.subject, input({ value: c.subject })),
        field('message', L.message,
          h('textarea', { rows: 8, lang: c.message_lang }, c.message), c.message_note),
        // The campaign's translation of a message sent in another language.
        c.message_translation && h('div', { part: 'field', class: 'f' },
          h('p', { class: 'd' }, L.message_translation),
          h('p', { class: 't', lang: c.message_translation.lang, dir: c.message_translation.dir },
            c.message_translation.message)),
        chal,
        // Honeypot: people never see or reach it, bots fill it in. Its name
        // matches no autofill token so browsers leave it empty.
        h('div', { class: 'h', 'aria-hidden': 'true' },
          input({ name: 'hp', tabindex: -1, autocomplete: 'off' })),
        opt,
        h('p', {}, link(c.privacy_url, L.privacy)),
        btn);

      form.addEventListener('submit', ev => {
        ev.preventDefault();
        if (btn.disabled) return;
        const v = n => ctl.get(n).value.trim();
        ctl.forEach((x, n) => setErr(n));
        status.textContent = '';
        // Check only emptiness here; the server judges everything else, in
        // the supporter's language.
        const errors = {};
        ['name', 'email', 'challenge_answer'].forEach(n => { if (!v(n)) errors[n] = [L.required]; });
        if (showErrors(errors)) return;
        btn.disabled = true;
        btn.textContent = L.sending;
        fetch(api + '/actions', Object.assign({
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({
            name: v('name'), email: v('email'), union: v('union'), country: v('country'),
            subject: v('subject'), message: ctl.get('message').value,
            opt_in: opt && ctl.get('opt_in').checked, lang: c.lang,
            challenge_token: token, challenge_answer: v('challenge_answer'),
            hp: form.elements.hp.value,
            partner: el.dataset.partner, // undefined drops out of the JSON
          }),
        }, opts))
          .then(r => r.json().catch(() => ({})).then(j => answer(r.status, j)),
            () => say(L.error_offline)) // keep the input so they can retry
          .then(() => { btn.disabled = false; btn.textContent = L.submit; });
      });

      const showErrors = errors => {
        const rest = [];
        for (const k in errors) {
          const msg = [].concat(errors[k]).join(' ');
          // Every challenge failure is reported under "challenge".
          const n = k.startsWith('challenge') ? 'challenge_answer' : k;
          if (ctl.has(n)) setErr(n, msg);
          else rest.push(msg);
        }
        if (rest.length) say(rest.join(' '));
        // Focus the first invalid field in page order, whatever the key order.
        const first = form.querySelector('[aria-invalid=true]');
        if (first) first.focus();
        return first || rest.length;
      };

      const answer = (s, j) => {
        if (j.challenge) {
          // A fresh challenge replaces the used one.
          token = j.challenge.token;
          q.textContent = j.challenge.question;
          ctl.get('challenge_answer').value = '';
        }
        if (s == 201) return thanks(j);
        if (s == 422 && j.errors) return showErrors(j.errors);
        if (s == 410) form.remove();
        const key = { 403: 'origin', 409: 'duplicate', 410: 'closed', 429: 'rate_limited' }[s];
        say(j.error || L['error_' + key]);
      };

      const thanks = j => {
        const head = h('h3', { tabindex: -1 }, L.thanks_title);
        // Drop links that safe() refused rather than show empty bullets.
        const share = (j.share || c.share || []).map(x => link(x.url, x.name)).filter(Boolean);
        count.remove();
        form.replaceWith(h('div', { part: 'thanks' },
          head,
          h('p', {}, L.thanks_text),
          meter(j.count_text || c.count_text, j.count),
          j.opt_in_pending && h('p', {}, L.opt_in_pending),
          share.length && h('p', {}, L.share),
          share.length && h('ul', {}, ...share.map(a => h('li', {}, a)))));
        head.focus();
        el.dispatchEvent(new CustomEvent('urgentaction:done',
          { bubbles: true, composed: true, detail: { slug, count: j.count } }));
      };
    }
    if (!form) status.textContent = L.error_closed;

    // A section named by its title: a landmark screen reader users can jump to.
    const root = h('section', { part: 'root', class: 'r', dir: c.dir, lang: c.lang, 'aria-labelledby': 'ua-t' },
      h('h2', { part: 'title', id: 'ua-t', dir: 'auto' }, c.title),
      h('p', { part: 'summary', dir: 'auto' }, c.summary),
      c.partner && h('p', {}, c.partner),
      h('p', {}, link(c.url, L.read_more)),
      count,
      form,
      status);
    // Attach only once everything is built: if anything above failed, the
    // element's own fallback content stays visible.
    attach(el, root);
  };

  const mount = el => {
    if (el.uaMounted) return;
    el.uaMounted = 1;
    const slug = el.dataset.urgentaction;
    const lang = (el.dataset.lang || document.documentElement.lang || navigator.language || '').split(/[-_]/)[0];
    const api = base + '/api/campaigns/' + encodeURIComponent(slug);
    return fetch(api + '?lang=' + encodeURIComponent(lang), opts)
      .then(r => r.json().then(c => {
        if (r.ok) return render(el, c, api);
        // A refusal the server explains (this site may not embed the
        // campaign, no such campaign): say it rather than fail silently.
        if (!c.error) throw r.status;
        attach(el, h('div', { part: 'root', class: 'r' },
          h('p', { part: 'status', class: 's', role: 'alert' }, c.error)));
      }))
      .catch(e => {
        el.uaMounted = 0; // let the host try again with UrgentAction.mount
        console.warn('urgentaction: cannot show campaign', slug, e);
      });
  };

  window.UrgentAction = { mount };
  const init = () => document.querySelectorAll('[data-urgentaction]').forEach(el => mount(el));
  if (document.readyState == 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
