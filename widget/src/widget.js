// @ts-check
// Embed widget for flask-urgentaction. Built by `npm run build` into
// src/flask_urgentaction/static/widget.js; edit this file, not that one.
// Every visible word comes from the server's JSON, so this file carries no
// dictionaries and no text of its own. `npm run typecheck` checks it against
// the types below (tsc --checkJs); the build drops the comments and shortens
// the names, so both cost nothing on the wire.

/**
 * The campaign JSON (`GET /api/campaigns/<slug>`), as far as the form widget
 * reads it. The type check holds the code to these keys, and tests/test_api.py
 * holds the server to serving every one of them.
 * @typedef {object} Campaign
 * @property {string} slug
 * @property {string} lang
 * @property {'ltr' | 'rtl'} dir
 * @property {'live' | 'closed' | 'draft' | 'scheduled'} status  the last two only in a preview
 * @property {string} title
 * @property {string} summary
 * @property {string} partner
 * @property {string} url
 * @property {string} subject
 * @property {string} message
 * @property {string} message_lang
 * @property {string} message_note
 * @property {MessageTranslation | null} message_translation
 * @property {number} count
 * @property {string} count_text
 * @property {number | null} goal
 * @property {string} privacy_url
 * @property {Challenge} challenge
 * @property {[string, string][]} countries
 * @property {ShareLink[]} share
 * @property {boolean} opt_in
 * @property {boolean} publish
 * @property {boolean} gathers_messages  no targets: the form gathers solidarity messages to publish
 * @property {string} publication_text  said above the button then: what is published
 * @property {boolean} form  false: the campaign only gathers solidarity, and takes no action
 * @property {string} no_form_text  what to say instead of the form then
 * @property {FormLabels} labels
 * @property {true} [preview]  an organiser's preview (data-preview): nothing can be sent
 * @property {string} [preview_text]  what to say above the disabled button then
 */

/**
 * Every text of the form widget, in the campaign's language.
 * @typedef {object} FormLabels
 * @property {string} name
 * @property {string} email
 * @property {string} union
 * @property {string} union_help
 * @property {string} country
 * @property {string} country_choose
 * @property {string} subject
 * @property {string} personal
 * @property {string} personal_help
 * @property {string} message
 * @property {string} message_translation
 * @property {string} opt_in
 * @property {string} publish
 * @property {string} publish_help
 * @property {string} submit
 * @property {string} sending
 * @property {string} privacy
 * @property {string} read_more
 * @property {string} required
 * @property {string} thanks_title
 * @property {string} thanks_text
 * @property {string} opt_in_pending
 * @property {string} share
 * @property {string} error_generic
 * @property {string} error_offline
 * @property {string} error_closed
 * @property {string} error_origin
 * @property {string} error_duplicate
 * @property {string} error_rate_limited
 */

/**
 * @typedef {object} Challenge
 * @property {string} token
 * @property {string} question
 *
 * @typedef {object} MessageTranslation
 * @property {string} lang
 * @property {'ltr' | 'rtl'} dir
 * @property {string} message
 *
 * @typedef {object} ShareLink
 * @property {string} name
 * @property {string} url
 */

/**
 * What `POST /api/campaigns/<slug>/actions` answers, whatever its status.
 * @typedef {object} ActionAnswer
 * @property {string} [error]
 * @property {Record<string, string | string[]>} [errors]
 * @property {Challenge} [challenge]
 *
 * Its answer when the action is stored (201).
 * @typedef {object} ActionTaken
 * @property {number} count
 * @property {string} count_text
 * @property {boolean} opt_in_pending
 * @property {ShareLink[]} [share]
 */

/**
 * The campaign list JSON (`GET /api/campaigns`), as the list widget reads it.
 * @typedef {object} CampaignList
 * @property {string} lang
 * @property {'ltr' | 'rtl'} dir
 * @property {ListedCampaign[]} campaigns
 * @property {ListLabels} labels
 *
 * @typedef {object} ListedCampaign
 * @property {string} slug
 * @property {string} lang
 * @property {'ltr' | 'rtl'} dir
 * @property {string} title
 * @property {string} summary
 * @property {number} count
 * @property {string} count_text
 * @property {number | null} goal
 * @property {string} url
 *
 * Every text of the list widget, in the list's language.
 * @typedef {object} ListLabels
 * @property {string} title
 * @property {string} read_more
 * @property {string} empty
 */

/**
 * A page of a campaign's published solidarity messages
 * (`GET /api/campaigns/<slug>/messages`), as the messages widget reads it.
 * @typedef {object} MessageList
 * @property {string} lang
 * @property {'ltr' | 'rtl'} dir
 * @property {string} heading
 * @property {string} url  "" when the campaign publishes no messages
 * @property {boolean} publish  false: only its declarations are shown
 * @property {string} declarations_heading
 * @property {Declaration[]} declarations
 * @property {PublishedMessage[]} messages
 * @property {MessageLabels} labels
 *
 * A declaration of solidarity, in its language nearest to the reader's.
 * @typedef {object} Declaration
 * @property {string} organisation
 * @property {string} country_name
 * @property {string} lang
 * @property {'ltr' | 'rtl'} dir
 * @property {string} title
 * @property {string} teaser
 * @property {string} url
 *
 * @typedef {object} PublishedMessage
 * @property {string} name
 * @property {string} union
 * @property {string} country_name
 * @property {string} lang
 * @property {string} language_name
 * @property {'ltr' | 'rtl'} dir
 * @property {string} teaser
 * @property {string} date
 * @property {string} date_text
 * @property {string} url
 *
 * Every text of the messages widget, in the reader's language.
 * @typedef {object} MessageLabels
 * @property {string} read_more
 * @property {string} all
 * @property {string} empty
 */

(() => {
  /**
   * An element of the partner page the widget draws into. The mark is a
   * property of the element, so a second copy of this script on the same
   * page leaves it alone too.
   * @typedef {HTMLElement & {uaMounted?: number}} Host
   *
   * A form control the server may report an error for.
   * @typedef {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} Control
   *
   * One field of the form: its label, its control and its error line.
   * @typedef {object} Field
   * @property {HTMLLabelElement} label
   * @property {Control} control
   * @property {HTMLElement} error
   *
   * One campaign widget on the page, and what its pieces share.
   * @typedef {object} Widget
   * @property {Host} host
   * @property {Campaign} campaign
   * @property {FormLabels} labels
   * @property {string} api  the campaign's URL in the API
   * @property {Map<string, Field>} fields  by name, for the errors the server reports
   * @property {HTMLElement} status  the live region for messages that belong to no field
   * @property {HTMLElement} count  the count line above the form
   * @property {string} token  the challenge token the next action sends
   *
   * What `element` takes as children: false, null, undefined, 0 and "" are skipped.
   * @typedef {Node | string | number | boolean | null | undefined} Child
   */

  // currentScript is only set while this file first runs, so read it now.
  // The fallback covers hosts that inject the script in odd ways.
  const ownScript = /** @type {HTMLScriptElement | undefined} */ (document.currentScript ||
    Array.from(document.scripts).filter(s => /\/widget\.js([?#]|$)/.test(s.src)).pop());
  const apiBase = ownScript ? ownScript.src.replace(/\/widget\.js([?#].*)?$/, '') : '';
  // The API uses no cookies; never send the host's or ours.
  /** @type {RequestInit} */
  const fetchOptions = { mode: 'cors', credentials: 'omit' };

  /**
   * Build DOM without innerHTML: strings always become text nodes. Attributes
   * that are null, undefined or false are left out; true gives an empty one.
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {Record<string, string | number | boolean | null | undefined>} attributes
   * @param {...Child} children  falsy ones (from `cond && element(...)`, or missing strings) are skipped
   * @returns {HTMLElementTagNameMap[K]}
   */
  const element = (tag, attributes, ...children) => {
    const el = document.createElement(tag);
    for (const name in attributes) {
      const value = attributes[name];
      if (value != null && value !== false) el.setAttribute(name, value === true ? '' : '' + value);
    }
    el.append(.../** @type {(Node | string)[]} */ (children.filter(Boolean)));
    return el;
  };

  /**
   * Links come from the server; still refuse anything that could run script.
   * @param {string} url
   */
  const safeUrl = url => {
    try {
      const parsed = new URL(url, apiBase);
      return /^(https?|mailto):$/.test(parsed.protocol) ? parsed.href : null;
    } catch (e) {
      return null;
    }
  };

  /**
   * A link that opens in a new tab, or null when the URL is not safe.
   * @param {string} url
   * @param {...Child} text
   */
  const externalLink = (url, ...text) => {
    const href = safeUrl(url);
    return href && element('a', { href, target: '_blank', rel: 'noopener' }, ...text);
  };

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
    '.t{white-space:pre-wrap;overflow-wrap:anywhere;padding:0 .75em;border-inline-start:3px solid var(--ua-border,#767676)}' +
    // The checkbox beside its label, the label wrapping next to it on a phone.
    '.c{display:flex;flex-wrap:wrap;gap:.5em;align-items:flex-start}' +
    '.c input{width:1.25em;height:1.25em;margin:.15em 0 0;flex:none}.c label{flex:1;font-weight:400}' +
    // A help line under the label, lined up with it: past the box and the gap
    // (1.25em + .5em of the root's 16px; the line's own em is smaller).
    '.c .d{flex-basis:100%;padding-inline-start:28px}' +
    '[aria-invalid=true]{border-color:var(--ua-error,#b3261e);border-width:2px}' +
    '.e,.s{color:var(--ua-error,#b3261e);font-weight:600}.e{margin:.25em 0 0;flex-basis:100%}.e:empty{display:none}' +
    'button{background:var(--ua-accent,#b5121b);color:var(--ua-accent-text,#fff);border:0;' +
    'border-radius:var(--ua-radius,6px);padding:.6em 1.5em;font-weight:700;cursor:pointer}' +
    'button:disabled{opacity:.7;cursor:progress}' +
    ':focus-visible{outline:3px solid var(--ua-accent,#b5121b);outline-offset:2px}' +
    'progress{display:block;width:100%;accent-color:var(--ua-accent,#b5121b)}' +
    // The campaign list: one campaign after another, divided by a rule.
    '.l{padding:0;list-style:none}.l h2{font-size:1.2em}' +
    '.l li+li{padding-top:.75em;border-top:1px solid var(--ua-border,#767676)}' +
    // Read by screen readers, not shown: it stays where it would stand, clipped
    // to nothing, so it cannot widen the box in either direction.
    '.v{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}' +
    // The honeypot: out of sight on the inline-start side. Pushed past the
    // end side instead (left in RTL) it would make the root scrollable by
    // 10000px, even with overflow:hidden; past the start nothing can scroll.
    '.h{position:absolute;inset-inline-start:-9999px;top:0;width:1px;height:1px;overflow:hidden}' +
    // Each script in fonts the reader's system has (as urgentaction.css): Han in its
    // region's fonts, Urdu in Nastaliq with taller lines. Anything with its own lang
    // (a message in another language) takes its own language's fonts.
    ':lang(ar),:lang(fa){--ua-font:system-ui,Noto Sans Arabic,Geeza Pro,Segoe UI,sans-serif}' +
    ':lang(ur){--ua-font:Noto Nastaliq Urdu,Jameel Noori Nastaleeq,Urdu Typesetting,Noto Naskh Arabic,Geeza Pro,Segoe UI,sans-serif;line-height:2.2}' +
    ':lang(he){--ua-font:system-ui,Noto Sans Hebrew,Arial Hebrew,Segoe UI,sans-serif}' +
    ':lang(hi),:lang(mr),:lang(ne){--ua-font:system-ui,Noto Sans Devanagari,Kohinoor Devanagari,Nirmala UI,sans-serif}' +
    ':lang(bn){--ua-font:system-ui,Noto Sans Bengali,Kohinoor Bangla,Nirmala UI,sans-serif}' +
    ':lang(ta){--ua-font:system-ui,Noto Sans Tamil,Tamil Sangam MN,Nirmala UI,sans-serif}' +
    ':lang(th){--ua-font:system-ui,Noto Sans Thai,Thonburi,Leelawadee UI,sans-serif}' +
    ':lang(am),:lang(ti){--ua-font:system-ui,Noto Sans Ethiopic,Kefa,Ebrima,Nyala,sans-serif}' +
    ':lang(ka){--ua-font:system-ui,Noto Sans Georgian,Sylfaen,sans-serif}' +
    ':lang(hy){--ua-font:system-ui,Noto Sans Armenian,Mshtakan,Sylfaen,sans-serif}' +
    ':lang(zh){--ua-font:PingFang SC,Noto Sans CJK SC,Microsoft YaHei,system-ui,sans-serif}' +
    ':lang(zh-Hant),:lang(zh-TW),:lang(zh-HK){--ua-font:PingFang TC,Noto Sans CJK TC,Microsoft JhengHei,system-ui,sans-serif}' +
    ':lang(ja){--ua-font:Hiragino Sans,Hiragino Kaku Gothic ProN,Noto Sans CJK JP,Yu Gothic UI,Meiryo,system-ui,sans-serif}' +
    ':lang(ko){--ua-font:Apple SD Gothic Neo,Noto Sans CJK KR,Malgun Gothic,system-ui,sans-serif}' +
    '[lang]{font-family:var(--ua-font,system-ui,sans-serif)}';

  // One constructed stylesheet shared by every widget on the page. Unlike a
  // <style> element it is not inline style to the host page's CSP, so hosts
  // with a strict style-src need no exception for us.
  /** @type {CSSStyleSheet | undefined} */
  let sharedSheet;

  /**
   * Draw `root` into the host element's open shadow root. Called only once
   * everything is built: if anything failed before, the element's own
   * fallback content stays visible.
   * @param {Host} host
   * @param {HTMLElement} root
   */
  const attachShadowRoot = (host, root) => {
    const shadow = host.attachShadow({ mode: 'open' });
    try {
      if (!sharedSheet) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(css);
        sharedSheet = sheet;
      }
      shadow.adoptedStyleSheets = [sharedSheet];
    } catch (e) {
      shadow.append(element('style', {}, css)); // browsers before constructable stylesheets
    }
    shadow.append(root);
  };

  /**
   * The count as a sentence, with a progress bar when there is a goal.
   * @param {string} text
   * @param {number} count
   * @param {number | null} goal
   */
  const countLine = (text, count, goal) => element('p', { part: 'count' }, text,
    goal && element('progress', { max: goal, value: count, 'aria-hidden': 'true' }));

  /**
   * A refusal the server explains (this site may not embed the campaign, no
   * such campaign), shown in the box rather than failing silently.
   * @param {Host} host
   * @param {string} message
   */
  const showRefusal = (host, message) => attachShadowRoot(host,
    element('div', { part: 'root', class: 'r' },
      element('p', { part: 'status', class: 's', role: 'alert' }, message)));

  // --- The campaign and its form (data-urgentaction) ---

  /**
   * @param {Widget} widget
   * @param {string} name
   */
  const fieldNamed = (widget, name) => /** @type {Field} */ (widget.fields.get(name));

  /**
   * What the supporter typed, without the spaces around it ("" for a field
   * the form does not have).
   * @param {Widget} widget
   * @param {string} name
   */
  const typed = (widget, name) => widget.fields.has(name) ? fieldNamed(widget, name).control.value.trim() : '';

  /**
   * A message that belongs to no field, in the live region.
   * @param {Widget} widget
   * @param {string} [text]  without one, the generic error
   */
  const announce = (widget, text) => {
    widget.status.textContent = text || widget.labels.error_generic;
  };

  /**
   * One labelled field. The error line is always there (empty when there is
   * no error), so aria-describedby never points at nothing.
   * @param {Widget} widget
   * @param {string} name
   * @param {string} labelText
   * @param {Control} control
   * @param {string | null} [help]
   * @param {string} [className]
   */
  const field = (widget, name, labelText, control, help, className) => {
    const id = 'ua-' + name;
    control.id = id;
    control.name = name;
    control.setAttribute('part', 'input');
    control.setAttribute('aria-describedby', (help ? id + '-h ' : '') + id + '-e');
    const label = element('label', { for: id, part: 'label' }, labelText);
    const error = element('p', { id: id + '-e', part: 'error', class: 'e' });
    widget.fields.set(name, { label, control, error });
    return element('div', { part: 'field', class: className || 'f' },
      label,
      help && element('p', { id: id + '-h', class: 'd' }, help),
      control,
      error);
  };

  /** @param {Record<string, string | number | boolean>} attributes */
  const input = attributes => element('input', attributes);

  /**
   * Mark a field invalid with `message`, or valid again without one.
   * @param {Widget} widget
   * @param {string} name
   * @param {string} [message]
   */
  const setFieldError = (widget, name, message) => {
    const { control, error } = fieldNamed(widget, name);
    control.setAttribute('aria-invalid', message ? 'true' : 'false');
    error.textContent = message || '';
  };

  /**
   * Who the supporter is: name, email, union and country.
   * @param {Widget} widget
   */
  const supporterFields = widget => {
    const { campaign, labels } = widget;
    return [
      field(widget, 'name', labels.name, input({ autocomplete: 'name', required: true })),
      field(widget, 'email', labels.email, input({ type: 'email', autocomplete: 'email', required: true })),
      field(widget, 'union', labels.union, input({}), labels.union_help),
      field(widget, 'country', labels.country, element('select', { autocomplete: 'country' },
        element('option', { value: '' }, labels.country_choose),
        ...(campaign.countries || []).map(([code, name]) => element('option', { value: code }, name)))),
    ];
  };

  /**
   * What goes to the targets: subject, the supporter's own line, the message,
   * and the campaign's translation of a message sent in another language.
   * A campaign gathering solidarity messages mails no one: the message alone.
   * @param {Widget} widget
   */
  const messageFields = widget => {
    const { campaign, labels } = widget;
    const translation = campaign.message_translation;
    const mailed = !campaign.gathers_messages;
    return [
      mailed && field(widget, 'subject', labels.subject, input({ value: campaign.subject })),
      // The supporter's own line, put first in the mail; the hint says why.
      mailed && field(widget, 'personal', labels.personal, element('textarea', { rows: 3 }), labels.personal_help),
      field(widget, 'message', labels.message,
        element('textarea', { rows: 8, lang: campaign.message_lang }, campaign.message), campaign.message_note),
      translation && element('div', { part: 'field', class: 'f' },
        element('p', { class: 'd' }, labels.message_translation),
        element('p', { class: 't', lang: translation.lang, dir: translation.dir }, translation.message)),
    ];
  };

  /**
   * The spam check: its question is the field's label.
   * @param {Widget} widget
   */
  const challengeField = widget => field(widget, 'challenge_answer', widget.campaign.challenge.question,
    input({ inputmode: 'numeric', autocomplete: 'off', required: true }));

  /**
   * A box to tick, before its label, unticked: the opt-in to alerts, or
   * "publish my message" with a line saying what becomes public.
   * @param {Widget} widget
   * @param {'opt_in' | 'publish'} name
   * @param {string} [help]
   */
  const checkboxField = (widget, name, help) => {
    const wrapper = field(widget, name, widget.labels[name], input({ type: 'checkbox' }), help, 'f c');
    wrapper.prepend(fieldNamed(widget, name).control);
    return wrapper;
  };

  /**
   * Whether a box is there and ticked.
   * @param {Widget} widget
   * @param {string} name
   */
  const ticked = (widget, name) => widget.fields.has(name) &&
    /** @type {HTMLInputElement} */ (fieldNamed(widget, name).control).checked;

  // People never see or reach it, bots fill it in. Its name matches no
  // autofill token so browsers leave it empty.
  const honeypot = () => element('div', { class: 'h', 'aria-hidden': 'true' },
    input({ name: 'hp', tabindex: -1, autocomplete: 'off' }));

  /**
   * The form, sending the action when submitted.
   * @param {Widget} widget
   */
  const actionForm = widget => {
    const { campaign, labels } = widget;
    widget.token = campaign.challenge.token;
    const gathers = campaign.gathers_messages;
    // Where publishing is the point, sending is the request to publish: said before the button.
    const submitButton = element('button', { type: 'submit', part: 'submit',
      'aria-describedby': gathers && 'ua-pub', disabled: campaign.preview }, labels.submit);
    const form = element('form', { part: 'form', novalidate: true },
      ...supporterFields(widget),
      ...messageFields(widget),
      challengeField(widget),
      honeypot(),
      // No opt-in when the server cannot mail the confirmation link; "publish"
      // only where the campaign publishes messages.
      campaign.opt_in !== false && checkboxField(widget, 'opt_in'),
      campaign.publish && !gathers && checkboxField(widget, 'publish', labels.publish_help),
      element('p', {}, externalLink(campaign.privacy_url, labels.privacy)),
      gathers && element('p', { id: 'ua-pub', part: 'publication' }, campaign.publication_text),
      // An organiser's preview: the button stays disabled, and this says why.
      campaign.preview && element('p', { class: 's' }, campaign.preview_text),
      submitButton);
    form.addEventListener('submit', event => {
      event.preventDefault();
      if (!submitButton.disabled) sendAction(widget, form, submitButton);
    });
    return form;
  };

  /**
   * Only emptiness is checked here; the server judges everything else, in
   * the supporter's language.
   * @param {Widget} widget
   */
  const emptyRequiredFields = widget => {
    /** @type {Record<string, string[]>} */
    const errors = {};
    const { campaign } = widget;
    // Gathering messages with none of the campaign's to fall back on, the message is required.
    for (const name of ['name', 'email', 'challenge_answer',
      ...(campaign.gathers_messages && !campaign.message ? ['message'] : [])]) {
      if (!typed(widget, name)) errors[name] = [widget.labels.required];
    }
    return errors;
  };

  /**
   * The action as the API takes it.
   * @param {Widget} widget
   * @param {HTMLFormElement} form
   */
  const actionBody = (widget, form) => ({
    name: typed(widget, 'name'),
    email: typed(widget, 'email'),
    union: typed(widget, 'union'),
    country: typed(widget, 'country'),
    subject: typed(widget, 'subject'),
    personal: typed(widget, 'personal'),
    message: fieldNamed(widget, 'message').control.value,
    opt_in: ticked(widget, 'opt_in'),
    publish: ticked(widget, 'publish'),
    lang: widget.campaign.lang,
    challenge_token: widget.token,
    challenge_answer: typed(widget, 'challenge_answer'),
    hp: /** @type {HTMLInputElement} */ (form.elements.namedItem('hp')).value,
    partner: widget.host.dataset.partner, // undefined drops out of the JSON
  });

  /**
   * Clear the old errors, check, send, and show the answer. The button stays
   * disabled while the action is on its way.
   * @param {Widget} widget
   * @param {HTMLFormElement} form
   * @param {HTMLButtonElement} submitButton
   */
  const sendAction = (widget, form, submitButton) => {
    const { labels } = widget;
    widget.fields.forEach((_, name) => setFieldError(widget, name));
    widget.status.textContent = '';
    if (showErrors(widget, form, emptyRequiredFields(widget))) return;
    submitButton.disabled = true;
    submitButton.textContent = labels.sending;
    fetch(widget.api + '/actions', Object.assign({
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(actionBody(widget, form)),
    }, fetchOptions))
      .then(response => response.json().catch(() => ({}))
        .then(answer => showAnswer(widget, form, response.status, answer)),
      () => announce(widget, labels.error_offline)) // keep the input so they can retry
      .then(() => {
        submitButton.disabled = false;
        submitButton.textContent = labels.submit;
      });
  };

  /**
   * Errors by field, each under its own field (one for no field goes to the
   * live region); focus goes to the first invalid field in page order,
   * whatever the order of the keys. True when there was any error.
   * @param {Widget} widget
   * @param {HTMLFormElement} form
   * @param {Record<string, string | string[]>} errors
   */
  const showErrors = (widget, form, errors) => {
    /** @type {string[]} */
    const elsewhere = [];
    for (const key in errors) {
      const messages = errors[key];
      const message = Array.isArray(messages) ? messages.join(' ') : messages;
      // Every challenge failure is reported under "challenge".
      const name = key.startsWith('challenge') ? 'challenge_answer' : key;
      if (widget.fields.has(name)) setFieldError(widget, name, message);
      else elsewhere.push(message);
    }
    if (elsewhere.length) announce(widget, elsewhere.join(' '));
    const firstInvalid = /** @type {HTMLElement | null} */ (form.querySelector('[aria-invalid=true]'));
    if (firstInvalid) firstInvalid.focus();
    return !!firstInvalid || elsewhere.length > 0;
  };

  /** @type {Record<number, keyof FormLabels>} */
  const errorLabelByStatus = {
    403: 'error_origin', 409: 'error_duplicate', 410: 'error_closed', 429: 'error_rate_limited',
  };

  /**
   * What the API answered to the action.
   * @param {Widget} widget
   * @param {HTMLFormElement} form
   * @param {number} status
   * @param {ActionAnswer} answer
   */
  const showAnswer = (widget, form, status, answer) => {
    if (answer.challenge) {
      // A fresh challenge replaces the used one.
      const challenge = fieldNamed(widget, 'challenge_answer');
      widget.token = answer.challenge.token;
      challenge.label.textContent = answer.challenge.question;
      challenge.control.value = '';
    }
    if (status == 201) {
      showThanks(widget, form, /** @type {ActionTaken} */ (answer));
    } else if (status == 422 && answer.errors) {
      showErrors(widget, form, answer.errors);
    } else {
      if (status == 410) form.remove();
      announce(widget, answer.error || widget.labels[errorLabelByStatus[status]]);
    }
  };

  /**
   * The thank-you in place of the form, with the new count and share links;
   * focus moves to it so a screen reader reads it out.
   * @param {Widget} widget
   * @param {HTMLFormElement} form
   * @param {ActionTaken} taken
   */
  const showThanks = (widget, form, taken) => {
    const { campaign, labels } = widget;
    const heading = element('h3', { tabindex: -1 }, labels.thanks_title);
    // Drop links that safeUrl() refused rather than show empty bullets.
    const share = (taken.share || campaign.share || [])
      .map(link => externalLink(link.url, link.name)).filter(Boolean);
    widget.count.remove();
    form.replaceWith(element('div', { part: 'thanks' },
      heading,
      element('p', {}, labels.thanks_text),
      countLine(taken.count_text || campaign.count_text, taken.count, campaign.goal),
      taken.opt_in_pending && element('p', {}, labels.opt_in_pending),
      share.length && element('p', {}, labels.share),
      share.length && element('ul', {}, ...share.map(link => element('li', {}, link)))));
    heading.focus();
    widget.host.dispatchEvent(new CustomEvent('urgentaction:done',
      { bubbles: true, composed: true, detail: { slug: campaign.slug, count: taken.count } }));
  };

  /**
   * The campaign, its count, and its form (or the closed notice).
   * @param {Host} host
   * @param {Campaign} campaign
   * @param {string} api
   */
  const renderCampaign = (host, campaign, api) => {
    const labels = campaign.labels;
    /** @type {Widget} */
    const widget = {
      host,
      campaign,
      labels,
      api,
      fields: new Map(),
      status: element('div', { part: 'status', class: 's', role: 'status', 'aria-live': 'polite' }),
      count: countLine(campaign.count_text, campaign.count, campaign.goal),
      token: '',
    };
    // No form when closed, or when the campaign has no one to send a message to:
    // its summary and the link to its page stay.
    const form = campaign.status != 'closed' && campaign.form ? actionForm(widget) : null;
    if (!form) widget.status.textContent = campaign.form ? labels.error_closed : campaign.no_form_text;
    // A section named by its title: a landmark screen reader users can jump to.
    attachShadowRoot(host, element('section',
      { part: 'root', class: 'r', dir: campaign.dir, lang: campaign.lang, 'aria-labelledby': 'ua-t' },
      element('h2', { part: 'title', id: 'ua-t', dir: 'auto' }, campaign.title),
      element('p', { part: 'summary', dir: 'auto' }, campaign.summary),
      campaign.partner && element('p', {}, campaign.partner),
      element('p', {}, externalLink(campaign.url, labels.read_more)),
      widget.count,
      form,
      widget.status));
  };

  // --- The list of live campaigns (data-urgentaction-list) ---

  /**
   * One campaign: its title as a heading linking to its page, the summary,
   * the count and "read more". Title and summary are in the campaign's own
   * language, which may not be the list's.
   * @param {ListedCampaign} campaign
   * @param {ListLabels} labels
   */
  const listItem = (campaign, labels) => {
    const { lang, dir } = campaign;
    return element('li', { part: 'item' },
      element('h2', { part: 'title', lang, dir }, externalLink(campaign.url, campaign.title)),
      campaign.summary && element('p', { part: 'summary', lang, dir }, campaign.summary),
      countLine(campaign.count_text, campaign.count, campaign.goal),
      // Link text that reads on its own: the title follows, for screen readers only.
      element('p', { part: 'read-more' }, externalLink(campaign.url, labels.read_more,
        element('span', { class: 'v', lang }, ': ' + campaign.title))));
  };

  /**
   * The live campaigns as a list, or a sentence saying there are none.
   * @param {Host} host
   * @param {CampaignList} list
   */
  const renderList = (host, list) => {
    const { campaigns, labels } = list;
    attachShadowRoot(host, element('div', { part: 'root', class: 'r', dir: list.dir, lang: list.lang },
      campaigns.length
        ? element('ul', { part: 'list', class: 'l', 'aria-label': labels.title },
          ...campaigns.map(campaign => listItem(campaign, labels)))
        : element('p', { part: 'empty' }, labels.empty)));
  };

  // --- Published solidarity messages (data-urgentaction-messages) ---

  /**
   * One message: the supporter's name as a heading, who and where they are,
   * the teaser in its own language and direction, and "read more".
   * @param {PublishedMessage} message
   * @param {MessageLabels} labels
   */
  const messageItem = (message, labels) => {
    /** @type {Child[]} */
    const about = [message.union && element('bdi', {}, message.union), message.country_name,
      message.language_name, element('time', { datetime: message.date }, message.date_text)];
    return element('li', { part: 'item' },
      element('h3', { part: 'name', dir: 'auto' }, message.name),
      element('p', { part: 'meta', class: 'd' },
        ...about.filter(Boolean).map((piece, i) => i ? [' · ', piece] : [piece])
          .reduce((all, pieces) => all.concat(pieces), [])),
      element('p', { part: 'teaser', class: 't', lang: message.lang, dir: message.dir }, message.teaser),
      // Link text that reads on its own: whose message, for screen readers only.
      element('p', { part: 'read-more' }, externalLink(message.url, labels.read_more,
        element('span', { class: 'v', dir: 'auto' }, ': ' + message.name))));
  };

  /**
   * One declaration: its title as a heading linking to its page, the
   * organisation and country, the teaser, all in the declaration's language.
   * @param {Declaration} declaration
   */
  const declarationItem = declaration => {
    const { lang, dir } = declaration;
    // The meta line is in the reader's language, the title and teaser in the declaration's.
    return element('li', { part: 'declaration' },
      element('h3', { part: 'name', lang, dir }, externalLink(declaration.url, declaration.title)),
      element('p', { part: 'meta', class: 'd' }, element('bdi', {}, declaration.organisation),
        declaration.country_name && ' · ' + declaration.country_name),
      declaration.teaser && element('p', { part: 'teaser', class: 't', lang, dir }, declaration.teaser));
  };

  /**
   * Under a heading naming the campaign: its declarations, then the messages
   * as a list (or a sentence saying there are none yet) and a link to all.
   * @param {Host} host
   * @param {MessageList} list
   */
  const renderMessages = (host, list) => {
    const { messages, declarations, labels } = list;
    attachShadowRoot(host, element('section',
      { part: 'root', class: 'r', dir: list.dir, lang: list.lang, 'aria-labelledby': 'ua-t' },
      element('h2', { part: 'title', id: 'ua-t', dir: 'auto' }, list.heading),
      declarations.length && element('ul', { part: 'declarations', class: 'l', 'aria-label': list.declarations_heading },
        ...declarations.map(declarationItem)),
      list.publish && (messages.length
        ? element('ul', { part: 'list', class: 'l' }, ...messages.map(message => messageItem(message, labels)))
        : element('p', { part: 'empty' }, labels.empty)),
      list.publish && element('p', { part: 'all' }, externalLink(list.url, labels.all))));
  };

  // --- Finding the elements and drawing into them ---

  /**
   * Fetch one of our JSON answers and draw it. A refusal the server explains
   * is shown instead; anything else rejects.
   * @template T
   * @param {Host} host
   * @param {string} url
   * @param {(answer: T) => void} draw
   * @returns {Promise<void>}
   */
  const fetchAndDraw = (host, url, draw) => fetch(url, fetchOptions)
    .then(response => response.json().then(answer => {
      if (response.ok) draw(answer);
      else if (answer.error) showRefusal(host, answer.error);
      else throw response.status;
    }));

  /**
   * The language to ask for: data-lang, else the page's, else the browser's; the
   * whole tag (zh-Hant is not zh-Hans), which the server matches by its first
   * subtag when it offers no more.
   * @param {Host} host
   */
  const preferredLanguage = host =>
    host.dataset.lang || document.documentElement.lang || navigator.language || '';

  /**
   * Draw a campaign (`data-urgentaction="slug"`), the campaign list
   * (`data-urgentaction-list`) or a campaign's published messages
   * (`data-urgentaction-messages="slug"`) into `host`. Mounting twice is a no-op.
   * @param {Host} host
   */
  const mount = host => {
    if (host.uaMounted) return;
    host.uaMounted = 1;
    const { country, writtenIn, preview } = host.dataset;
    // data-country narrows the list, data-written-in the messages; each where it
    // applies. data-preview is the dashboard's token for a campaign not yet public.
    const query = '?lang=' + encodeURIComponent(preferredLanguage(host)) +
      (country ? '&country=' + encodeURIComponent(country) : '') +
      (writtenIn ? '&written_in=' + encodeURIComponent(writtenIn) : '') +
      (preview ? '&preview=' + encodeURIComponent(preview) : '');
    const list = 'urgentactionList' in host.dataset;
    const messages = host.dataset.urgentactionMessages;
    const slug = host.dataset.urgentaction || messages;
    const api = apiBase + '/api/campaigns' + (list ? '' : '/' + encodeURIComponent(slug || ''));
    /** @type {Promise<void>} */
    const drawn = list
      ? fetchAndDraw(host, api + query, /** @param {CampaignList} answer */ answer => renderList(host, answer))
      : messages != null
        ? fetchAndDraw(host, api + '/messages' + query,
          /** @param {MessageList} answer */ answer => renderMessages(host, answer))
        : fetchAndDraw(host, api + query, /** @param {Campaign} answer */ answer => renderCampaign(host, answer, api));
    return drawn.catch(error => {
      host.uaMounted = 0; // let the host try again with UrgentAction.mount
      console.warn('urgentaction: cannot show', list ? 'the campaign list' : 'campaign ' + slug, error);
    });
  };

  /** @type {Window & {UrgentAction?: {mount: typeof mount}}} */ (window).UrgentAction = { mount };
  const mountAll = () => document.querySelectorAll('[data-urgentaction],[data-urgentaction-list],[data-urgentaction-messages]')
    .forEach(host => mount(/** @type {Host} */ (host)));
  if (document.readyState == 'loading') document.addEventListener('DOMContentLoaded', mountAll);
  else mountAll();
})();
