//! What Aura sends to Discord, built with serenity's builders: messages with buttons and no mentions, edits,
//! interaction answers, threads and the slash command set (pure).

use serenity::builder::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateCommand, CreateCommandOption,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    CreateMessage, CreateThread, EditInteractionResponse, EditMessage,
};
use serenity::model::application::{ButtonStyle as DiscordStyle, CommandOptionType};
use serenity::model::channel::{AutoArchiveDuration, MessageReference, Nonce};
use serenity::model::id::{ChannelId, MessageId};

use crate::chat::{Button, ButtonStyle};
use crate::domain::command::CommandName;

/// Discord's limit on thread names.
const THREAD_NAME_MAX: usize = 100;

/// How an interaction is acknowledged within Discord's 3 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// A slash command: "Aura is thinking…", replaced by the first answer (type 5).
    Defer,
    /// A button click: nothing visible changes yet (type 6).
    Update,
}

/// The answer that acknowledges an interaction (`{"type": 5}` or `{"type": 6}`, nothing else).
pub fn ack(ack: Ack) -> serde_json::Value {
    let kind = match ack {
        Ack::Defer => 5,
        Ack::Update => 6,
    };
    serde_json::json!({ "type": kind })
}

/// The answer to an interaction Aura does not handle (an old command, another component), seen only by its user.
pub fn unhandled() -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content("Aura does not handle this; /help lists what it does.")
            .allowed_mentions(no_mentions())
            .ephemeral(true),
    )
}

/// Nobody is pinged by anything Aura sends: no `@everyone`, roles, users or replied-to author.
fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// One action row of buttons whose custom ids are the nonces.
fn rows(buttons: &[Button]) -> Vec<CreateActionRow> {
    if buttons.is_empty() {
        return Vec::new();
    }
    let buttons = buttons
        .iter()
        .map(|b| {
            let style = match b.style {
                ButtonStyle::Success => DiscordStyle::Success,
                ButtonStyle::Danger => DiscordStyle::Danger,
            };
            CreateButton::new(b.nonce.clone())
                .label(b.label.clone())
                .style(style)
        })
        .collect();
    vec![CreateActionRow::Buttons(buttons)]
}

/// A channel message; `nonce` makes Discord return the first message instead of posting a second one when a
/// send is retried within minutes.
pub fn message(
    text: &str,
    buttons: &[Button],
    reply_to: Option<(u64, u64)>,
    nonce: &str,
) -> CreateMessage {
    let mut m = CreateMessage::new()
        .content(text)
        .allowed_mentions(no_mentions())
        .components(rows(buttons))
        .nonce(Nonce::String(nonce.chars().take(25).collect()))
        .enforce_nonce(true);
    if let Some((channel, message)) = reply_to {
        let mut reference =
            MessageReference::from((ChannelId::new(channel), MessageId::new(message)));
        // A reply to a deleted message is still sent, as a plain message.
        reference.fail_if_not_exists = Some(false);
        m = m.reference_message(reference);
    }
    m
}

/// A new text and button row for an earlier message; no buttons removes them.
pub fn edit(text: &str, buttons: &[Button]) -> EditMessage {
    EditMessage::new()
        .content(text)
        .allowed_mentions(no_mentions())
        .components(rows(buttons))
}

/// The first answer to a slash command, replacing its deferred response.
pub fn original(text: &str, buttons: &[Button]) -> EditInteractionResponse {
    EditInteractionResponse::new()
        .content(text)
        .allowed_mentions(no_mentions())
        .components(rows(buttons))
}

/// A follow-up to an interaction; an ephemeral one is shown only to the user who acted.
pub fn followup(
    text: &str,
    buttons: &[Button],
    ephemeral: bool,
) -> CreateInteractionResponseFollowup {
    CreateInteractionResponseFollowup::new()
        .content(text)
        .allowed_mentions(no_mentions())
        .components(rows(buttons))
        .ephemeral(ephemeral)
}

/// A thread started from a message, named after the message's first line.
pub fn thread(text: &str) -> CreateThread<'static> {
    CreateThread::new(thread_name(text)).auto_archive_duration(AutoArchiveDuration::OneWeek)
}

/// The first line of rendered markdown without markup, at most 100 characters.
fn thread_name(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut name = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.extend(chars.next()),
            '*' | '`' | '\u{200B}' => {}
            c => name.push(c),
        }
    }
    let name: String = name.trim().chars().take(THREAD_NAME_MAX).collect();
    if name.is_empty() { "Aura".into() } else { name }
}

/// A command's options, from its usage notation: `<x>` is required, `[x]` optional.
pub fn options(name: CommandName) -> Vec<(&'static str, bool)> {
    name.args()
        .split_whitespace()
        .filter_map(|arg| {
            let required = arg.starts_with('<');
            let bare = arg.trim_matches(|c| matches!(c, '<' | '>' | '[' | ']'));
            (!bare.is_empty()).then_some((bare, required))
        })
        .collect()
}

/// Aura's slash commands, generated from the command set (same words and arguments as the text commands).
pub fn commands() -> Vec<CreateCommand> {
    CommandName::ALL
        .into_iter()
        .map(|name| {
            options(name).into_iter().fold(
                CreateCommand::new(name.word()).description(name.summary()),
                |cmd, (arg, required)| cmd.add_option(option(arg, required)),
            )
        })
        .collect()
}

fn option(arg: &'static str, required: bool) -> CreateCommandOption {
    let (kind, description) = match arg {
        "id" => (CommandOptionType::Integer, "the ticket number"),
        "turns" => (CommandOptionType::Integer, "how many more agent turns"),
        "number" => (
            CommandOptionType::Integer,
            "the question's number (from the answer)",
        ),
        "text" => (
            CommandOptionType::String,
            "what is wrong (the first line is the title)",
        ),
        _ => (CommandOptionType::String, "why"),
    };
    let option = CreateCommandOption::new(kind, arg, description).required(required);
    match kind {
        CommandOptionType::Integer => option.min_int_value(1),
        _ => option,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn to_json(v: &impl serde::Serialize) -> Value {
        serde_json::to_value(v).expect("serialise")
    }

    fn plan_buttons() -> Vec<Button> {
        vec![
            Button {
                label: "✅ Approve".into(),
                nonce: "a".repeat(32),
                style: ButtonStyle::Success,
            },
            Button {
                label: "❌ Reject".into(),
                nonce: "b".repeat(32),
                style: ButtonStyle::Danger,
            },
        ]
    }

    #[test]
    fn a_message_carries_buttons_a_reply_a_nonce_and_no_mentions() {
        let m = to_json(&message(
            "**Plan**",
            &plan_buttons(),
            Some((5, 10)),
            "aura-out-42",
        ));
        assert_eq!(m["content"], "**Plan**");
        assert_eq!(m["allowed_mentions"]["parse"], json!([]));
        assert_eq!(m["allowed_mentions"]["users"], json!([]));
        assert_eq!(m["allowed_mentions"]["roles"], json!([]));
        assert_eq!(
            (m["nonce"].clone(), m["enforce_nonce"].clone()),
            (json!("aura-out-42"), json!(true))
        );
        assert_eq!(m["message_reference"]["message_id"], "10");
        assert_eq!(m["message_reference"]["fail_if_not_exists"], false);
        let row = &m["components"][0];
        assert_eq!(row["type"], 1, "an action row");
        assert_eq!(
            row["components"][0],
            json!({"type": 2, "style": 3, "label": "✅ Approve", "custom_id": "a".repeat(32), "disabled": false})
        );
        assert_eq!(row["components"][1]["style"], 4);
    }

    #[test]
    fn an_edit_without_buttons_removes_the_row() {
        let e = to_json(&edit("done", &[]));
        assert_eq!(e["components"], json!([]));
        assert_eq!(e["allowed_mentions"]["parse"], json!([]));
        let f = to_json(&followup("Refused: you are not an approver.", &[], true));
        assert_eq!(f["flags"], 64, "ephemeral");
        assert_eq!(
            to_json(&original("x", &[]))["allowed_mentions"]["parse"],
            json!([])
        );
    }

    #[test]
    fn acknowledgements_are_a_deferred_message_or_a_deferred_update() {
        assert_eq!(ack(Ack::Defer), json!({"type": 5}));
        assert_eq!(ack(Ack::Update), json!({"type": 6}));
    }

    #[test]
    fn thread_names_are_the_first_line_without_markup() {
        assert_eq!(
            thread_name("🎫 **Ticket \\#1 opened**: disk \\*full\\*\nReply here"),
            "🎫 Ticket #1 opened: disk *full*",
            "escaped user text shows as typed"
        );
        assert_eq!(thread_name(&"x".repeat(300)).chars().count(), 100);
        assert_eq!(thread_name("**  **"), "Aura");
        assert_eq!(to_json(&thread("a"))["auto_archive_duration"], 10080);
    }

    #[test]
    fn slash_commands_mirror_the_text_commands() {
        let commands: Vec<Value> = commands().iter().map(to_json).collect();
        let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "ticket", "tickets", "status", "approve", "reject", "cancel", "resume", "escalate",
                "help"
            ]
        );
        let escalate = &commands[7];
        assert_eq!(escalate["options"][0]["name"], "number");
        assert_eq!(escalate["options"][0]["type"], 4, "integer");
        let reject = &commands[4];
        assert_eq!(reject["options"][0]["name"], "id");
        assert_eq!(reject["options"][0]["type"], 4, "integer");
        assert_eq!(reject["options"][0]["required"], true);
        assert_eq!(reject["options"][1]["name"], "comment");
        assert_eq!(reject["options"][1]["required"], false);
        assert_eq!(
            commands[0]["options"][0]["type"], 3,
            "ticket text is a string"
        );
        assert!(commands.iter().all(|c| {
            c["description"]
                .as_str()
                .is_some_and(|d| (1..=100).contains(&d.len()))
        }));
    }
}
