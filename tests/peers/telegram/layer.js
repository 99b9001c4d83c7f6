'use strict';
// Compatibility layer around telegram-test-api@4.2.1 so a real teloxide 0.17 bot can run
// against it. See README.md in this folder for what is fixed and why.
//
// Structure: an outer Express app (ours) sits in front of the emulator's own Express app.
//   - /_aura/*                         test-control endpoints (ours)
//   - /sendMessage /sendCommand /sendCallback   client API: normalised here, then handed to
//                                      the emulator's own addUserMessage/addUserCommand/addUserCallback
//   - /bot<token>/<method>             the whole bot side is answered here (Telegram shapes);
//                                      sendMessage/edit*/deleteMessage also update the emulator's storage
//   - everything else (/getUpdates, /getUpdatesHistory of the client API) goes to the emulator.
// The bot-side update queue (update_id / offset / long polling) is owned by the layer; the
// emulator's addUserUpdate is replaced on the instance so every client update lands in it.

const path = require('path');
const TelegramServer = require('telegram-test-api'); // module.exports = the TelegramServer class
// Use the very express instance the emulator uses (it is the emulator's dependency, not ours).
const express = require(require.resolve('express', {
  paths: [path.dirname(require.resolve('telegram-test-api'))],
}));

const CHAT_TYPES = new Set(['private', 'group', 'supergroup', 'channel']);
const MESSAGE_KEYS = ['message', 'edited_message', 'channel_post', 'edited_channel_post',
  'business_message', 'edited_business_message'];
const JSON_FIELDS = ['reply_markup', 'entities', 'reply_parameters', 'link_preview_options',
  'allowed_updates', 'commands', 'scope', 'message_ids', 'caption_entities'];
const MAX_TIMEOUT_S = 3600;

const nowSec = () => Math.floor(Date.now() / 1000);
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// chat/user ids: integers stay integers, numeric strings become integers, anything else stays a string
function toId(v) {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  if (typeof v === 'bigint') return Number(v);
  return v === undefined || v === null ? null : String(v);
}

function toInt(v, dflt) {
  if (v === undefined || v === null || v === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : dflt;
}

// unix seconds; millisecond values (as the stock emulator produces) are converted
function toSec(v, dflt) {
  const n = toInt(v, undefined);
  if (n === undefined) return dflt === undefined ? nowSec() : dflt;
  return n > 1e11 ? Math.floor(n / 1000) : n;
}

function parseMaybeJson(v) {
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (!(s.startsWith('{') || s.startsWith('['))) return v;
  try { return JSON.parse(s); } catch (_e) { return v; }
}

function inlineMarkup(m) {
  const v = parseMaybeJson(m);
  return isObj(v) && Array.isArray(v.inline_keyboard) ? v : null;
}

class Layer {
  constructor(opts = {}) {
    this.host = opts.host || '127.0.0.1';
    this.port = opts.port || 0;
    this.storeTimeout = opts.storeTimeout || 3600;
    this.botUsername = opts.botUsername || 'aura_test_bot';
    this.botFirstName = opts.botFirstName || 'Aura Test Bot';
    this.log = opts.log || (() => {});

    this.tg = new TelegramServer({ port: this.port || 9000, host: this.host, storeTimeout: this.storeTimeout });
    this.tg.config.port = this.port; // stock turns 0 into 9000; 0 = let the OS pick
    this.innerApp = this.tg.webServer;
    this.resetState();
    this.waiters = new Map(); // token -> pending long poll
    this.patchEmulator();
    this.tg.webServer = this.buildApp(); // tg.start() serves whatever webServer is at that moment
  }

  resetState() {
    this.queue = []; // [{update_id, token|null, update}] unconfirmed bot updates
    this.sent = []; // records of bot-sent messages
    this.callbackAnswers = [];
    this.calls = [];
    this.failRules = [];
    this.chats = new Map(); // String(chat id) -> chat object
    this.known = new Map(); // `${chat}:${msg}` -> Message (every message seen, bot or user)
    this.commands = new Map(); // token|scope|lang -> [BotCommand]
  }

  // ---------------------------------------------------------------- identity / chats
  botId(token) {
    const m = /^(\d+):/.exec(String(token || ''));
    return m ? Number(m[1]) : 666;
  }

  botUser(token) {
    return { id: this.botId(token), is_bot: true, first_name: this.botFirstName, username: this.botUsername };
  }

  chatInstance(chatId) {
    return `ci${chatId}`;
  }

  normChat(c, fallbackId) {
    let chat = isObj(c) ? { ...c } : {};
    if (chat.id === undefined || chat.id === null) chat.id = fallbackId;
    chat.id = toId(chat.id);
    if (typeof chat.id !== 'number') {
      const byName = this.findChatByUsername(chat.id);
      chat.id = byName ? byName.id : 0;
    }
    const knownChat = this.chats.get(String(chat.id));
    if (knownChat) chat = { ...knownChat, ...chat };
    if (!CHAT_TYPES.has(chat.type)) {
      const s = String(chat.id);
      chat.type = chat.id > 0 ? 'private' : (s.startsWith('-100') ? 'supergroup' : 'group');
    }
    if (chat.type === 'private') {
      if (typeof chat.first_name !== 'string' || !chat.first_name) chat.first_name = 'User';
      delete chat.title;
      delete chat.is_forum;
    } else if (typeof chat.title !== 'string' || !chat.title) {
      chat.title = `Chat ${chat.id}`;
    }
    return chat;
  }

  findChatByUsername(name) {
    const want = String(name).replace(/^@/, '').toLowerCase();
    for (const c of this.chats.values()) {
      if (c.username && String(c.username).toLowerCase() === want) return c;
    }
    return null;
  }

  learnChat(chat) {
    if (isObj(chat) && typeof chat.id === 'number') {
      const prev = this.chats.get(String(chat.id)) || {};
      this.chats.set(String(chat.id), { ...prev, ...chat });
    }
  }

  normUser(u, fallbackId) {
    const user = isObj(u) ? { ...u } : {};
    user.id = toId(user.id === undefined || user.id === null ? fallbackId : user.id);
    if (typeof user.id !== 'number') user.id = 1;
    user.is_bot = user.is_bot === true;
    if (typeof user.first_name !== 'string' || !user.first_name) user.first_name = 'User';
    return user;
  }

  key(chatId, messageId) {
    return `${chatId}:${messageId}`;
  }

  // remember every message we see (for reply_to_message lookups, deletes, callbacks)
  learnMessage(msg) {
    if (!isObj(msg) || !isObj(msg.chat) || msg.message_id === undefined) return;
    this.learnChat(msg.chat);
    this.known.set(this.key(msg.chat.id, msg.message_id), msg);
  }

  learnUpdate(upd) {
    for (const k of MESSAGE_KEYS) if (isObj(upd[k])) this.learnMessage(upd[k]);
    if (isObj(upd.callback_query) && isObj(upd.callback_query.message)) {
      this.learnChat(upd.callback_query.message.chat);
    }
  }

  // a minimal (non-nested) message object for reply_to_message
  replyRef(ref, chat) {
    const r = isObj(ref) ? { ...ref } : { message_id: toInt(ref, 0) };
    const refChat = this.normChat(r.chat, chat.id);
    const base = this.known.get(this.key(refChat.id, toInt(r.message_id, 0)));
    const msg = { ...(base ? clone(base) : {}), ...r };
    delete msg.reply_to_message;
    delete msg.botToken;
    msg.message_id = toInt(msg.message_id, 0);
    msg.chat = this.normChat(msg.chat, chat.id);
    msg.date = toSec(msg.date);
    if (msg.from !== undefined) msg.from = this.normUser(msg.from);
    if (msg.message_thread_id !== undefined) msg.message_thread_id = toInt(msg.message_thread_id);
    return msg;
  }

  // ---------------------------------------------------------------- client side (simulated user)
  // normalise a client message body (stock format: a Message + botToken) before it is stored
  normClientMessage(body, isCommand) {
    const m = { ...body };
    m.entities = parseMaybeJson(m.entities);
    if (m.chat === undefined && m.chat_id === undefined && isObj(m.from)) m.chat_id = m.from.id;
    m.chat = this.normChat(m.chat, m.chat_id);
    delete m.chat_id;
    if (isObj(m.from)) {
      m.from = this.normUser(m.from);
    } else if (m.chat.type === 'private') {
      m.from = this.normUser({ id: m.chat.id, first_name: m.chat.first_name, username: m.chat.username });
    } else {
      m.from = this.normUser({ id: 1 });
    }
    m.date = toSec(m.date);
    if (m.text !== undefined && m.text !== null) m.text = String(m.text);
    if (isCommand && !Array.isArray(m.entities)) {
      const cmd = typeof m.text === 'string' ? /^\/\S+/.exec(m.text) : null;
      m.entities = cmd ? [{ type: 'bot_command', offset: 0, length: cmd[0].length }] : [];
    }
    if (m.entities !== undefined && !Array.isArray(m.entities)) delete m.entities;
    if (m.message_thread_id !== undefined) {
      m.message_thread_id = toInt(m.message_thread_id);
      if (m.chat.is_forum && m.is_topic_message === undefined) m.is_topic_message = true;
    }
    if (m.reply_to_message !== undefined && m.reply_to_message !== null) {
      m.reply_to_message = this.replyRef(m.reply_to_message, m.chat);
    }
    return m;
  }

  // the emulator's stored update (stock internal format) -> a proper Bot API Update
  formatStockUpdate(update) {
    if (isObj(update.callbackQuery)) {
      const cq = update.callbackQuery;
      const out = { id: cq.id !== undefined ? String(cq.id) : String(update.callbackId) };
      out.from = this.normUser(cq.from);
      let msg = isObj(cq.message) ? cq.message : null;
      if (!msg && cq.message_id !== undefined && cq.chat_id !== undefined) {
        msg = { message_id: cq.message_id, chat: { id: cq.chat_id } };
      }
      let chatId = null;
      if (msg) {
        const chat = this.normChat(msg.chat, msg.chat_id !== undefined ? msg.chat_id : out.from.id);
        const base = this.known.get(this.key(chat.id, toInt(msg.message_id, 0)));
        const m = { ...(base ? clone(base) : {}), ...msg };
        delete m.botToken;
        delete m.chat_id;
        m.message_id = toInt(m.message_id, 0);
        m.chat = this.normChat(m.chat, chat.id);
        // date 0 is how Telegram marks an inaccessible message: keep an explicit 0
        m.date = msg.date === 0 ? 0 : toSec(m.date);
        m.from = m.from !== undefined ? this.normUser(m.from) : this.botUser(update.botToken);
        if (m.reply_markup !== undefined) {
          const mk = inlineMarkup(m.reply_markup);
          if (mk) m.reply_markup = mk; else delete m.reply_markup;
        }
        out.message = m;
        chatId = m.chat.id;
      }
      if (cq.inline_message_id !== undefined) out.inline_message_id = String(cq.inline_message_id);
      out.chat_instance = cq.chat_instance !== undefined ? String(cq.chat_instance)
        : this.chatInstance(chatId !== null ? chatId : out.from.id);
      if (cq.data !== undefined) out.data = String(cq.data);
      if (cq.game_short_name !== undefined) out.game_short_name = cq.game_short_name;
      return { update_id: update.updateId, callback_query: out };
    }
    const m = { message_id: update.messageId, ...update.message };
    delete m.botToken;
    m.message_id = update.messageId;
    if (!isObj(m.chat)) m.chat = this.normChat(m.chat, m.chat_id);
    delete m.chat_id;
    if (!isObj(m.from)) m.from = this.normUser(m.from, m.chat.id);
    m.date = toSec(m.date);
    return { update_id: update.updateId, message: m };
  }

  patchEmulator() {
    const layer = this;
    const tg = this.tg;
    // Replaces TelegramServer.prototype.addUserUpdate on this instance: same storage for the
    // client API / history, but the bot side gets a proper Update in the layer's own queue and
    // a webhook delivery can never throw (stock: unhandled rejection -> process crash).
    tg.addUserUpdate = async function addUserUpdate(update) {
      if (!isObj(update)) throw new Error('update must be an object');
      const token = update.botToken ? String(update.botToken) : null;
      const formatted = layer.formatStockUpdate(update);
      layer.lastFormatted = formatted;
      this.storage.userMessages.push(update);
      this.updateId = Math.max(this.updateId, update.updateId) + 1;
      layer.learnUpdate(formatted);
      layer.deliver(token, formatted);
    };
  }

  // ---------------------------------------------------------------- bot update queue
  nextUpdateId() {
    const id = this.tg.updateId;
    this.tg.updateId += 1;
    return id;
  }

  pendingFor(token) {
    return this.queue.filter((e) => e.token === null || e.token === token);
  }

  deliver(token, update) {
    const webhook = token !== null ? this.tg.webhooks[token] : null;
    if (webhook && webhook.url) {
      this.deliverWebhook(token, webhook, update);
      return;
    }
    this.enqueue(token, update);
  }

  async deliverWebhook(token, webhook, update) {
    try {
      const headers = { 'content-type': 'application/json' };
      if (webhook.secret_token) headers['x-telegram-bot-api-secret-token'] = String(webhook.secret_token);
      const resp = await fetch(webhook.url, {
        method: 'POST', headers, body: JSON.stringify(update), signal: AbortSignal.timeout(10000),
      });
      if (resp.status >= 300) throw new Error(`HTTP ${resp.status}`);
      this.log(`webhook delivered update ${update.update_id} to ${webhook.url}`);
    } catch (e) {
      // keep it: after deleteWebhook the bot can still fetch it with getUpdates (as in Telegram)
      this.log(`webhook delivery of update ${update.update_id} to ${webhook.url} failed: ${e.message}`);
      webhook.last_error_date = nowSec();
      webhook.last_error_message = String(e.message);
      this.enqueue(token, update);
    }
  }

  enqueue(token, update) {
    this.queue.push({ update_id: update.update_id, token, update });
    this.queue.sort((a, b) => a.update_id - b.update_id);
    for (const [wt, w] of this.waiters) {
      if (token === null || token === wt) setImmediate(() => this.flushWaiter(w));
    }
  }

  confirm(token, offset) {
    if (!offset) return;
    const mine = this.pendingFor(token);
    let drop;
    if (offset > 0) {
      drop = new Set(mine.filter((e) => e.update_id < offset));
    } else {
      drop = new Set(mine.slice(0, Math.max(0, mine.length + offset)));
    }
    if (drop.size) this.queue = this.queue.filter((e) => !drop.has(e));
  }

  takeFor(token, limit) {
    return this.pendingFor(token).slice(0, limit).map((e) => e.update);
  }

  flushWaiter(w, force) {
    if (w.done) return;
    const result = this.takeFor(w.token, w.limit);
    if (!result.length && !force) return;
    this.finishWaiter(w, result);
  }

  finishWaiter(w, result) {
    if (w.done) return;
    w.done = true;
    clearTimeout(w.timer);
    if (this.waiters.get(w.token) === w) this.waiters.delete(w.token);
    sendJson(w.res, 200, { ok: true, result });
  }

  // ---------------------------------------------------------------- bot side handlers
  botHandlers() {
    return {
      getme: (c) => ok(c.res, {
        ...this.botUser(c.token),
        can_join_groups: true,
        can_read_all_group_messages: false,
        supports_inline_queries: false,
        can_connect_to_business: false,
        has_main_web_app: false,
      }),
      getupdates: (c) => this.getUpdates(c),
      sendmessage: (c) => this.sendMessage(c),
      editmessagetext: (c) => this.editMessage(c, true),
      editmessagereplymarkup: (c) => this.editMessage(c, false),
      deletemessage: (c) => this.deleteMessages(c, [c.args.message_id], false),
      deletemessages: (c) => this.deleteMessages(c, Array.isArray(c.args.message_ids) ? c.args.message_ids : [], true),
      answercallbackquery: (c) => {
        if (c.args.callback_query_id === undefined || c.args.callback_query_id === '') {
          return fail(c.res, 400, 'Bad Request: query is too old and response timeout expired or query id is invalid');
        }
        this.callbackAnswers.push({
          callback_query_id: String(c.args.callback_query_id),
          text: c.args.text === undefined ? null : String(c.args.text),
          show_alert: c.args.show_alert === true || c.args.show_alert === 'true',
        });
        return ok(c.res, true);
      },
      sendchataction: (c) => (this.resolveChat(c.args.chat_id) ? ok(c.res, true) : fail(c.res, 400, 'Bad Request: chat not found')),
      setmycommands: (c) => {
        const cmds = Array.isArray(c.args.commands) ? c.args.commands : [];
        this.commands.set(this.commandsKey(c), cmds.map((x) => ({ command: String(x.command), description: String(x.description) })));
        return ok(c.res, true);
      },
      deletemycommands: (c) => { this.commands.delete(this.commandsKey(c)); return ok(c.res, true); },
      getmycommands: (c) => ok(c.res, this.commands.get(this.commandsKey(c)) || []),
      getwebhookinfo: (c) => {
        const wh = this.tg.webhooks[c.token];
        const info = { url: wh && wh.url ? String(wh.url) : '', has_custom_certificate: false, pending_update_count: this.pendingFor(c.token).length };
        if (wh && wh.url) {
          info.max_connections = toInt(wh.max_connections, 40);
          if (wh.last_error_date) { info.last_error_date = wh.last_error_date; info.last_error_message = wh.last_error_message; }
        }
        return ok(c.res, info);
      },
      setwebhook: (c) => {
        const url = c.args.url === undefined || c.args.url === null ? '' : String(c.args.url);
        if (!url) { this.tg.deleteWebhook(c.token); return ok(c.res, true, 'Webhook was deleted'); }
        if (!/^https?:\/\//i.test(url)) return fail(c.res, 400, 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook');
        if (c.args.drop_pending_updates === true || c.args.drop_pending_updates === 'true') this.dropPending(c.token);
        this.tg.setWebhook({ url, secret_token: c.args.secret_token, max_connections: c.args.max_connections }, c.token);
        return ok(c.res, true, 'Webhook was set');
      },
      deletewebhook: (c) => {
        const had = Boolean(this.tg.webhooks[c.token]);
        if (c.args.drop_pending_updates === true || c.args.drop_pending_updates === 'true') this.dropPending(c.token);
        this.tg.deleteWebhook(c.token);
        return ok(c.res, true, had ? 'Webhook was deleted' : 'Webhook is already deleted');
      },
      close: (c) => ok(c.res, true),
      logout: (c) => ok(c.res, true),
    };
  }

  commandsKey(c) {
    return `${c.token}|${JSON.stringify(c.args.scope || { type: 'default' })}|${c.args.language_code || ''}`;
  }

  dropPending(token) {
    this.queue = this.queue.filter((e) => !(e.token === token || e.token === null));
  }

  resolveChat(chatIdRaw) {
    const id = toId(chatIdRaw);
    if (id === null || id === '') return null;
    if (typeof id === 'number') return this.normChat({ id });
    const byName = this.findChatByUsername(id);
    return byName ? this.normChat({ id: byName.id }) : null;
  }

  getUpdates(c) {
    const { token, args, res } = c;
    const wh = this.tg.webhooks[token];
    if (wh && wh.url) {
      return fail(res, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    }
    const offset = toInt(args.offset, 0);
    const limit = Math.min(100, Math.max(1, toInt(args.limit, 100)));
    const timeout = Math.min(MAX_TIMEOUT_S, Math.max(0, toInt(args.timeout, 0)));
    this.confirm(token, offset);
    // a newer getUpdates supersedes a pending one (Telegram answers the old one with 409;
    // an empty result is gentler and only happens when two pollers share a token)
    const prev = this.waiters.get(token);
    if (prev) this.finishWaiter(prev, []);
    const result = this.takeFor(token, limit);
    if (result.length || timeout === 0) return ok(res, result);
    const w = { token, limit, res, done: false, timer: null };
    w.timer = setTimeout(() => this.flushWaiter(w, true), timeout * 1000);
    this.waiters.set(token, w);
    res.on('close', () => {
      if (!w.done) {
        w.done = true;
        clearTimeout(w.timer);
        if (this.waiters.get(token) === w) this.waiters.delete(token);
      }
    });
    return undefined;
  }

  sendMessage(c) {
    const { token, args, res } = c;
    const chat = this.resolveChat(args.chat_id);
    if (!chat) return fail(res, 400, 'Bad Request: chat not found');
    if (args.text === undefined || args.text === null || String(args.text).trim() === '') {
      return fail(res, 400, 'Bad Request: message text is empty');
    }
    const text = String(args.text);
    if (text.length > 4096) return fail(res, 400, 'Bad Request: message is too long');
    const markup = inlineMarkup(args.reply_markup);
    // the emulator's own storage (client /getUpdates, /getUpdatesHistory) gets the message too
    const stockBody = { ...args, chat_id: chat.id };
    delete stockBody.reply_markup;
    if (isObj(parseMaybeJson(args.reply_markup))) stockBody.reply_markup = parseMaybeJson(args.reply_markup);
    const stock = this.tg.addBotMessage(stockBody, token);
    const msg = {
      message_id: stock.message_id,
      from: this.botUser(token),
      chat,
      date: nowSec(),
    };
    const threadId = toInt(args.message_thread_id, undefined);
    if (threadId !== undefined) { msg.message_thread_id = threadId; msg.is_topic_message = true; }
    let replyId;
    const rp = parseMaybeJson(args.reply_parameters);
    if (isObj(rp) && rp.message_id !== undefined) replyId = toInt(rp.message_id, undefined);
    else if (args.reply_to_message_id !== undefined) replyId = toInt(args.reply_to_message_id, undefined);
    if (replyId !== undefined) {
      const replyChat = isObj(rp) && rp.chat_id !== undefined ? (this.resolveChat(rp.chat_id) || chat) : chat;
      msg.reply_to_message = this.replyRef({ message_id: replyId, chat: replyChat }, replyChat);
    }
    msg.text = text;
    const entities = parseMaybeJson(args.entities);
    if (Array.isArray(entities) && entities.length) msg.entities = entities;
    if (markup) msg.reply_markup = markup;
    this.learnChat(chat);
    this.learnMessage(msg);
    this.sent.push({
      token,
      message_id: msg.message_id,
      chat_id: chat.id,
      text,
      parse_mode: args.parse_mode === undefined ? null : args.parse_mode,
      entities: msg.entities || null,
      reply_markup: markup,
      message_thread_id: threadId === undefined ? null : threadId,
      reply_to_message_id: replyId === undefined ? null : replyId,
      date: msg.date,
      edits: [],
      deleted: false,
      message: msg,
    });
    return ok(res, msg);
  }

  findSent(chatId, messageId) {
    return this.sent.find((r) => String(r.chat_id) === String(chatId) && r.message_id === messageId && !r.deleted);
  }

  editMessage(c, isText) {
    const { args, res } = c;
    if (args.inline_message_id !== undefined) return ok(res, true); // inline messages are not tracked
    const chat = this.resolveChat(args.chat_id);
    const messageId = toInt(args.message_id, undefined);
    if (!chat) return fail(res, 400, 'Bad Request: chat not found');
    const rec = messageId === undefined ? null : this.findSent(chat.id, messageId);
    if (!rec) {
      if (messageId !== undefined && this.known.has(this.key(chat.id, messageId))) return fail(res, 400, "Bad Request: message can't be edited");
      return fail(res, 400, 'Bad Request: message to edit not found');
    }
    let text = rec.text;
    let parseMode = rec.parse_mode;
    let entities = rec.entities;
    if (isText) {
      if (args.text === undefined || args.text === null || String(args.text).trim() === '') return fail(res, 400, 'Bad Request: message text is empty');
      text = String(args.text);
      if (text.length > 4096) return fail(res, 400, 'Bad Request: message is too long');
      parseMode = args.parse_mode === undefined ? null : args.parse_mode;
      const e = parseMaybeJson(args.entities);
      entities = Array.isArray(e) && e.length ? e : null;
    }
    // as in Telegram: omitting reply_markup in an edit removes the inline keyboard
    const markup = inlineMarkup(args.reply_markup);
    const same = (a, b) => JSON.stringify(a === undefined ? null : a) === JSON.stringify(b === undefined ? null : b);
    if (text === rec.text && same(parseMode, rec.parse_mode) && same(entities, rec.entities) && same(markup, rec.reply_markup)) {
      return fail(res, 400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
    }
    const date = nowSec();
    rec.edits.push({ text, parse_mode: parseMode, reply_markup: markup, date });
    rec.text = text;
    rec.parse_mode = parseMode;
    rec.entities = entities;
    rec.reply_markup = markup;
    const msg = rec.message;
    msg.text = text;
    if (entities) msg.entities = entities; else delete msg.entities;
    if (markup) msg.reply_markup = markup; else delete msg.reply_markup;
    msg.edit_date = date;
    // keep the emulator's storage in step (client /getUpdates, /getUpdatesHistory)
    const stockBody = { chat_id: chat.id, message_id: messageId, text };
    if (markup) stockBody.reply_markup = markup;
    if (isText) this.tg.editMessageText(stockBody); else this.tg.editMessageReplyMarkup(stockBody);
    return ok(res, clone(msg));
  }

  deleteMessages(c, ids, bulk) {
    const chat = this.resolveChat(c.args.chat_id);
    if (!chat) return fail(c.res, 400, 'Bad Request: chat not found');
    let deletedAny = false;
    for (const raw of ids) {
      const messageId = toInt(raw, undefined);
      if (messageId === undefined) continue;
      const rec = this.findSent(chat.id, messageId);
      const k = this.key(chat.id, messageId);
      if (!rec && !this.known.has(k)) continue;
      if (rec) rec.deleted = true;
      this.known.delete(k);
      try { this.tg.deleteMessage(chat.id, messageId); } catch (_e) { /* stock storage only */ }
      deletedAny = true;
    }
    if (!deletedAny && !bulk) return fail(c.res, 400, 'Bad Request: message to delete not found');
    return ok(c.res, true);
  }

  // ---------------------------------------------------------------- HTTP wiring
  buildApp() {
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.use(express.json({ limit: '50mb' }));
    app.use(express.urlencoded({ extended: true, limit: '50mb' }));
    app.use('/_aura', this.auraRouter());

    const clientMessage = (isCommand) => (req, res) => {
      const body = isObj(req.body) ? req.body : null;
      if (!body) return sendJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: JSON object body required' });
      const hasChat = (isObj(body.chat) && body.chat.id !== undefined) || body.chat_id !== undefined
        || (isObj(body.from) && body.from.id !== undefined);
      if (!hasChat) return sendJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: the message needs "chat" (with id), "chat_id" or "from" (with id)' });
      const m = this.normClientMessage(body, isCommand);
      this.lastFormatted = null;
      const p = isCommand ? this.tg.addUserCommand(m) : this.tg.addUserMessage(m);
      const upd = this.lastFormatted;
      return p.then(() => sendJson(res, 200, { ok: true, result: upd }))
        .catch((e) => sendJson(res, 400, { ok: false, error_code: 400, description: `Bad Request: ${e.message}` }));
    };
    app.post('/sendMessage', clientMessage(false));
    app.post('/sendCommand', clientMessage(true));
    app.post('/sendCallback', (req, res) => {
      const body = isObj(req.body) ? req.body : null;
      if (!body) return sendJson(res, 400, { ok: false, error_code: 400, description: 'Bad Request: JSON object body required' });
      this.lastFormatted = null;
      const p = this.tg.addUserCallback({ ...body });
      const upd = this.lastFormatted;
      return p.then(() => sendJson(res, 200, { ok: true, result: upd }))
        .catch((e) => sendJson(res, 400, { ok: false, error_code: 400, description: `Bad Request: ${e.message}` }));
    });

    const handlers = this.botHandlers();
    app.all(/^\/bot([^/]+)\/([^/]+)\/?$/, (req, res) => {
      let token = req.params[0];
      try { token = decodeURIComponent(token); } catch (_e) { /* keep raw */ }
      const method = String(req.params[1]).toLowerCase();
      const args = { ...(isObj(req.query) ? req.query : {}), ...(isObj(req.body) ? req.body : {}) };
      for (const f of JSON_FIELDS) if (f in args) args[f] = parseMaybeJson(args[f]);
      const chatId = args.chat_id === undefined ? null : toId(args.chat_id);
      const call = { method, chat_id: chatId, at_ms: Date.now(), status: null };
      this.calls.push(call);
      res.on('finish', () => { call.status = res.statusCode; });
      this.log(`bot ${method} ${JSON.stringify(args).slice(0, 300)}`);

      const rule = this.failRules.find((r) => r.method === method && r.remaining > 0
        && (r.chat_id === null || String(r.chat_id) === String(chatId)));
      if (rule) {
        rule.remaining -= 1;
        if (rule.remaining <= 0) this.failRules = this.failRules.filter((r) => r !== rule);
        if (rule.error_code === 429) {
          res.set('Retry-After', String(rule.retry_after));
          return fail(res, 429, `Too Many Requests: retry after ${rule.retry_after}`, { retry_after: rule.retry_after });
        }
        return fail(res, rule.error_code, rule.description || `Error ${rule.error_code}: injected failure`);
      }
      const h = handlers[method];
      if (!h) return fail(res, 404, 'Not Found: method not found');
      try {
        return h({ token, method, args, req, res });
      } catch (e) {
        this.log(`bot ${method} failed: ${e.stack || e}`);
        return fail(res, 400, `Bad Request: ${e.message}`);
      }
    });

    // the rest of the emulator's client API (/getUpdates, /getUpdatesHistory) is its own
    const stockClient = new Set(['/getupdates', '/getupdateshistory']);
    app.use((req, res, next) => {
      if (stockClient.has(req.path.toLowerCase().replace(/\/$/, ''))) return next();
      return fail(res, 404, 'Not Found');
    });
    app.use(this.innerApp);

    // body parse errors and anything thrown: Telegram-style 4xx, never a 5xx (teloxide sleeps 10 s on 5xx)
    // eslint-disable-next-line no-unused-vars
    app.use((err, req, res, _next) => {
      this.log(`request error on ${req.method} ${req.url}: ${err && err.message}`);
      const status = err && err.status >= 400 && err.status < 500 ? err.status : 400;
      if (res.headersSent) { try { res.end(); } catch (_e) { /* ignore */ } return; }
      fail(res, status, `Bad Request: ${err && err.message ? err.message : 'invalid request'}`);
    });
    return app;
  }

  auraRouter() {
    const r = express.Router();
    r.get('/health', (_req, res) => sendJson(res, 200, { ok: true }));
    r.post('/fail', (req, res) => {
      const b = isObj(req.body) ? req.body : {};
      if (typeof b.method !== 'string' || !b.method) return sendJson(res, 400, { ok: false, description: '"method" (string) is required' });
      const rule = {
        method: b.method.toLowerCase(),
        chat_id: b.chat_id === undefined || b.chat_id === null ? null : toId(b.chat_id),
        remaining: Math.max(0, toInt(b.count, 1)),
        retry_after: Math.max(0, toInt(b.retry_after, 1)),
        error_code: toInt(b.error_code, 429),
        description: b.description === undefined ? null : String(b.description),
      };
      if (rule.remaining > 0) this.failRules.push(rule);
      return sendJson(res, 200, { ok: true, result: rule });
    });
    r.get('/fail', (_req, res) => sendJson(res, 200, this.failRules));
    r.get('/sent', (req, res) => {
      const want = req.query.chat_id === undefined ? undefined : String(toId(req.query.chat_id));
      const list = this.sent.filter((s) => want === undefined || String(s.chat_id) === want).map((s) => ({
        message_id: s.message_id,
        chat_id: s.chat_id,
        text: s.text,
        parse_mode: s.parse_mode,
        reply_markup: s.reply_markup,
        message_thread_id: s.message_thread_id,
        reply_to_message_id: s.reply_to_message_id,
        date: s.date,
        edits: s.edits,
        deleted: s.deleted,
      }));
      return sendJson(res, 200, list);
    });
    r.get('/callback_answers', (_req, res) => sendJson(res, 200, this.callbackAnswers));
    r.get('/calls', (req, res) => {
      const m = typeof req.query.method === 'string' && req.query.method ? req.query.method.toLowerCase() : null;
      return sendJson(res, 200, this.calls.filter((x) => m === null || x.method === m));
    });
    r.get('/updates', (_req, res) => sendJson(res, 200, this.queue.map((e) => e.update)));
    r.post('/update', (req, res) => {
      if (!isObj(req.body)) return sendJson(res, 400, { ok: false, description: 'body must be a JSON object (an Update without update_id)' });
      const upd = { ...req.body };
      delete upd.update_id;
      if (!Object.keys(upd).length) return sendJson(res, 400, { ok: false, description: 'empty update' });
      const id = this.nextUpdateId();
      const full = { update_id: id, ...upd };
      this.learnUpdate(full);
      // keep our message_id counter above any id a test chose, so bot messages never collide with it
      for (const k of MESSAGE_KEYS) {
        const mid = isObj(full[k]) ? toInt(full[k].message_id, 0) : 0;
        if (mid >= this.tg.messageId) this.tg.messageId = mid + 1;
      }
      const token = typeof req.query.token === 'string' && req.query.token ? req.query.token : null;
      this.deliver(token, full);
      return sendJson(res, 200, { update_id: id });
    });
    r.post('/reset', (_req, res) => {
      this.resetState();
      this.tg.storage = { userMessages: [], botMessages: [] };
      this.tg.webhooks = {};
      return sendJson(res, 200, { ok: true });
    });
    r.use((_req, res) => sendJson(res, 404, { ok: false, description: 'unknown /_aura endpoint' }));
    return r;
  }

  async start() {
    await this.tg.start();
    const addr = this.tg.server.address();
    this.port = addr.port;
    return this.port;
  }

  async stop() {
    for (const w of [...this.waiters.values()]) this.finishWaiter(w, []);
    await this.tg.stop();
  }
}

function sendJson(res, status, body) {
  if (res.headersSent || res.writableEnded || res.destroyed || (res.socket && res.socket.destroyed)) return;
  try {
    res.status(status).json(body);
  } catch (_e) { /* connection gone */ }
}

function ok(res, result, description) {
  const body = { ok: true, result };
  if (description) body.description = description;
  sendJson(res, 200, body);
}

function fail(res, code, description, parameters) {
  const body = { ok: false, error_code: code, description };
  if (parameters) body.parameters = parameters;
  sendJson(res, code, body);
}

module.exports = { Layer };
