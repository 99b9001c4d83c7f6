//! Chat commands: the closed set of command words, the parser shared by every platform and the help text built from them.

use std::fmt;

use super::TicketId;

/// The most turns one `resume` may grant.
pub const MAX_RESUME_TURNS: u32 = 100;

/// How many characters of an unknown command word are echoed back to the user.
pub const UNKNOWN_WORD_MAX_CHARS: usize = 32;

/// The last line of the help text, about messages that are not commands.
pub const PLAIN_MESSAGE_HINT: &str =
    "A plain message in a ticket's thread joins the ticket; in a direct message it opens one.";

const MISSING_ID: &str = "missing ticket id";
const TEXT_AFTER_ID: &str = "unexpected text after the id";
const TEXT_AFTER_TURNS: &str = "unexpected text after the turns";
const BAD_TURNS: &str = "turns must be a whole number from 1 to 100";
const MISSING_TICKET_TEXT: &str = "say what the ticket is about";
const MISSING_NUMBER: &str = "missing question number (it is in the answer)";
const BAD_NUMBER: &str = "the question number is a whole number like 12";

/// A parsed chat command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a ticket; `text` is everything after the command word, trimmed, newlines kept, never empty.
    Ticket { text: String },
    /// List this chat's open tickets.
    Tickets,
    /// Show one ticket.
    Status { id: TicketId },
    /// Approve a ticket's plan.
    Approve { id: TicketId },
    /// Reject a ticket's plan, sending it back to planning.
    Reject {
        id: TicketId,
        comment: Option<String>,
    },
    /// Cancel a ticket.
    Cancel {
        id: TicketId,
        reason: Option<String>,
    },
    /// Give a paused ticket more turns; `turns` is within `1..=MAX_RESUME_TURNS`.
    Resume { id: TicketId, turns: Option<u32> },
    /// Open a ticket from an answered @mention question, numbered `number`.
    Escalate { number: i64 },
    /// Show the help text.
    Help,
}

impl Command {
    /// The command word this command was written with.
    pub fn name(&self) -> CommandName {
        match self {
            Command::Ticket { .. } => CommandName::Ticket,
            Command::Tickets => CommandName::Tickets,
            Command::Status { .. } => CommandName::Status,
            Command::Approve { .. } => CommandName::Approve,
            Command::Reject { .. } => CommandName::Reject,
            Command::Cancel { .. } => CommandName::Cancel,
            Command::Resume { .. } => CommandName::Resume,
            Command::Escalate { .. } => CommandName::Escalate,
            Command::Help => CommandName::Help,
        }
    }
}

/// The command words, a closed set that drives the parser, the help text and usage messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandName {
    Ticket,
    Tickets,
    Status,
    Approve,
    Reject,
    Cancel,
    Resume,
    Escalate,
    Help,
}

impl CommandName {
    /// Every command word, in the order the help text lists them (keep in step with the enum).
    pub const ALL: [CommandName; 9] = [
        CommandName::Ticket,
        CommandName::Tickets,
        CommandName::Status,
        CommandName::Approve,
        CommandName::Reject,
        CommandName::Cancel,
        CommandName::Resume,
        CommandName::Escalate,
        CommandName::Help,
    ];

    /// The lowercase word users type after the prefix or mention.
    pub fn word(self) -> &'static str {
        match self {
            CommandName::Ticket => "ticket",
            CommandName::Tickets => "tickets",
            CommandName::Status => "status",
            CommandName::Approve => "approve",
            CommandName::Reject => "reject",
            CommandName::Cancel => "cancel",
            CommandName::Resume => "resume",
            CommandName::Escalate => "escalate",
            CommandName::Help => "help",
        }
    }

    /// The arguments in usage notation, empty when the command takes none.
    pub fn args(self) -> &'static str {
        match self {
            CommandName::Ticket => "<text>",
            CommandName::Tickets => "",
            CommandName::Status => "<id>",
            CommandName::Approve => "<id>",
            CommandName::Reject => "<id> [comment]",
            CommandName::Cancel => "<id> [reason]",
            CommandName::Resume => "<id> [turns]",
            CommandName::Escalate => "<number>",
            CommandName::Help => "",
        }
    }

    /// A one-line description for the help text.
    pub fn summary(self) -> &'static str {
        match self {
            CommandName::Ticket => "open a ticket",
            CommandName::Tickets => "list this chat's open tickets",
            CommandName::Status => "show a ticket",
            CommandName::Approve => "approve a ticket's plan",
            CommandName::Reject => "reject a ticket's plan (back to planning)",
            CommandName::Cancel => "cancel a ticket",
            CommandName::Resume => "give a paused ticket more turns",
            CommandName::Escalate => "turn an answered @mention question into a ticket",
            CommandName::Help => "show this help",
        }
    }

    /// The command as written with its arguments, e.g. "/reject <id> [comment]".
    pub fn synopsis(self, prefix: &str) -> String {
        match self.args() {
            "" => format!("{prefix}{}", self.word()),
            args => format!("{prefix}{} {args}", self.word()),
        }
    }

    /// The usage line shown after a mistake, e.g. "Usage: /reject <id> [comment]".
    pub fn usage(self, prefix: &str) -> String {
        format!("Usage: {}", self.synopsis(prefix))
    }

    /// The command named by `word`, ignoring ASCII case; only whole words match.
    pub fn from_word(word: &str) -> Option<CommandName> {
        CommandName::ALL
            .into_iter()
            .find(|name| name.word().eq_ignore_ascii_case(word))
    }
}

impl fmt::Display for CommandName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Why a command could not be parsed; Display is the message shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The word after the prefix is not a command; `word` is as typed, cut to `UNKNOWN_WORD_MAX_CHARS`.
    #[error("Unknown command {prefix}{word}. Send {prefix}help for the list.")]
    Unknown { word: String, prefix: String },
    /// A known command with arguments that do not fit it; `problem` has no final full stop.
    #[error("{problem}. {}", .name.usage(.prefix))]
    Usage {
        name: CommandName,
        prefix: String,
        problem: String,
    },
}

impl CommandError {
    /// An unknown-command error echoing at most `UNKNOWN_WORD_MAX_CHARS` characters of `word`.
    pub fn unknown(word: &str, prefix: &str) -> CommandError {
        CommandError::Unknown {
            word: word.chars().take(UNKNOWN_WORD_MAX_CHARS).collect(),
            prefix: prefix.to_owned(),
        }
    }

    /// A usage error for `name` explaining `problem`.
    pub fn usage(name: CommandName, prefix: &str, problem: impl Into<String>) -> CommandError {
        CommandError::Usage {
            name,
            prefix: prefix.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Parses a message starting with `prefix` ("/" or "!"), or returns None when it is not a command for this bot.
///
/// None when the text does not start with `prefix`, when nothing but whitespace follows the prefix, or when
/// the command word carries an `@bot` suffix (Telegram groups) that does not name `bot_username`
/// (compared ignoring ASCII case; a leading '@' on `bot_username` is allowed). With `bot_username` None,
/// a suffixed command cannot be confirmed as ours and is also None.
pub fn parse_prefixed(
    text: &str,
    prefix: &str,
    bot_username: Option<&str>,
) -> Option<Result<Command, CommandError>> {
    if prefix.is_empty() {
        return None;
    }
    let after = text.strip_prefix(prefix)?;
    if after.starts_with(char::is_whitespace) {
        return None;
    }
    let (token, rest) = split_word(after)?;
    let word = addressed_to_us(token, bot_username)?;
    if word.is_empty() {
        return None;
    }
    Some(match CommandName::from_word(word) {
        Some(name) => parse_args(name, rest, prefix),
        None => Err(CommandError::unknown(word, prefix)),
    })
}

/// Parses the words after a mention, or returns None when the first word is not a command word.
///
/// `prefix` is only used to write usage messages.
pub fn parse_words(text: &str, prefix: &str) -> Option<Result<Command, CommandError>> {
    let (word, rest) = split_word(text)?;
    let name = CommandName::from_word(word)?;
    Some(parse_args(name, rest, prefix))
}

/// The help text: one line per command, "/<word> <args> — <summary>", then a line about plain messages.
pub fn help_text(prefix: &str) -> String {
    let mut lines: Vec<String> = CommandName::ALL
        .into_iter()
        .map(|name| format!("{} — {}", name.synopsis(prefix), name.summary()))
        .collect();
    lines.push(PLAIN_MESSAGE_HINT.to_owned());
    lines.join("\n")
}

/// The command word of `token` when it is addressed to us: no `@suffix`, or a suffix naming this bot.
fn addressed_to_us<'a>(token: &'a str, bot_username: Option<&str>) -> Option<&'a str> {
    match token.split_once('@') {
        None => Some(token),
        Some((word, addressee)) => {
            let ours = bot_username?.trim_start_matches('@');
            addressee.eq_ignore_ascii_case(ours).then_some(word)
        }
    }
}

/// Splits off the first whitespace-separated word; the rest keeps its whitespace. None when `text` is blank.
fn split_word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    Some(text.split_at(end))
}

/// Parses the arguments of a known command, turning a problem into a usage error.
fn parse_args(name: CommandName, rest: &str, prefix: &str) -> Result<Command, CommandError> {
    build(name, rest).map_err(|problem| CommandError::usage(name, prefix, problem))
}

/// Builds the command `name` from its arguments, or says what is wrong with them.
fn build(name: CommandName, rest: &str) -> Result<Command, String> {
    Ok(match name {
        CommandName::Ticket => Command::Ticket {
            text: optional_text(rest).ok_or(MISSING_TICKET_TEXT)?,
        },
        CommandName::Tickets => Command::Tickets,
        CommandName::Status => Command::Status { id: id_only(rest)? },
        CommandName::Approve => Command::Approve { id: id_only(rest)? },
        CommandName::Reject => {
            let (id, after) = leading_id(rest)?;
            let comment = optional_text(after);
            Command::Reject { id, comment }
        }
        CommandName::Cancel => {
            let (id, after) = leading_id(rest)?;
            let reason = optional_text(after);
            Command::Cancel { id, reason }
        }
        CommandName::Resume => {
            let (id, after) = leading_id(rest)?;
            let turns = optional_turns(after)?;
            Command::Resume { id, turns }
        }
        CommandName::Escalate => Command::Escalate {
            number: question_number(rest)?,
        },
        CommandName::Help => Command::Help,
    })
}

/// The ticket id that starts `rest`, and what follows it.
fn leading_id(rest: &str) -> Result<(TicketId, &str), String> {
    let (word, after) = split_word(rest).ok_or(MISSING_ID)?;
    let id = word.parse::<TicketId>().map_err(|e| e.to_string())?;
    Ok((id, after))
}

/// A question number (`12` or `#12`) that must be the only argument.
fn question_number(rest: &str) -> Result<i64, String> {
    let (word, after) = split_word(rest).ok_or(MISSING_NUMBER)?;
    let digits = word.trim_start_matches('#');
    let number = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse::<i64>().ok())
        .flatten()
        .filter(|n| *n > 0)
        .ok_or(BAD_NUMBER)?;
    if after.trim().is_empty() {
        Ok(number)
    } else {
        Err(TEXT_AFTER_ID.to_owned())
    }
}

/// A ticket id that must be the only argument.
fn id_only(rest: &str) -> Result<TicketId, String> {
    let (id, after) = leading_id(rest)?;
    if after.trim().is_empty() {
        Ok(id)
    } else {
        Err(TEXT_AFTER_ID.to_owned())
    }
}

/// Free text, trimmed with inner newlines kept, or None when blank.
fn optional_text(rest: &str) -> Option<String> {
    let text = rest.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// An optional number of turns within `1..=MAX_RESUME_TURNS`, which must be the last argument.
fn optional_turns(rest: &str) -> Result<Option<u32>, String> {
    let Some((word, after)) = split_word(rest) else {
        return Ok(None);
    };
    let turns = word
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| word.parse::<u32>().ok())
        .flatten()
        .filter(|n| (1..=MAX_RESUME_TURNS).contains(n))
        .ok_or(BAD_TURNS)?;
    if after.trim().is_empty() {
        Ok(Some(turns))
    } else {
        Err(TEXT_AFTER_TURNS.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slash(text: &str) -> Option<Result<Command, CommandError>> {
        parse_prefixed(text, "/", Some("aura_bot"))
    }

    fn ok(text: &str) -> Command {
        match slash(text) {
            Some(Ok(command)) => command,
            other => panic!("{text:?} should parse, got {other:?}"),
        }
    }

    fn err(text: &str) -> CommandError {
        match slash(text) {
            Some(Err(e)) => e,
            other => panic!("{text:?} should fail, got {other:?}"),
        }
    }

    fn problem(text: &str) -> String {
        match err(text) {
            CommandError::Usage { problem, .. } => problem,
            other => panic!("{text:?} should be a usage error, got {other:?}"),
        }
    }

    #[test]
    fn ticket_text_is_everything_after_the_word_trimmed() {
        assert_eq!(
            ok("/ticket   disk full on db-1  "),
            Command::Ticket {
                text: "disk full on db-1".into()
            }
        );
    }

    #[test]
    fn a_newline_separates_the_word_and_the_ticket_keeps_its_lines() {
        assert_eq!(
            ok("/ticket\nline1\nline2\n"),
            Command::Ticket {
                text: "line1\nline2".into()
            }
        );
    }

    #[test]
    fn any_unicode_whitespace_separates_the_word() {
        assert_eq!(ok("/status\u{a0}42"), Command::Status { id: TicketId(42) });
        assert_eq!(
            ok("/status\u{2003}#42"),
            Command::Status { id: TicketId(42) }
        );
        assert_eq!(ok("/tickets\tall"), Command::Tickets);
    }

    #[test]
    fn a_long_ticket_is_not_limited_here() {
        let text = "x".repeat(5000);
        assert_eq!(ok(&format!("/ticket {text}")), Command::Ticket { text });
    }

    #[test]
    fn a_ticket_without_text_asks_what_it_is_about() {
        assert_eq!(problem("/ticket"), "say what the ticket is about");
        assert_eq!(problem("/ticket \n  "), "say what the ticket is about");
        assert_eq!(
            err("/ticket").to_string(),
            "say what the ticket is about. Usage: /ticket <text>"
        );
    }

    #[test]
    fn tickets_and_help_ignore_trailing_words() {
        assert_eq!(ok("/tickets"), Command::Tickets);
        assert_eq!(ok("/tickets foo bar"), Command::Tickets);
        assert_eq!(ok("/help"), Command::Help);
        assert_eq!(ok("/help please"), Command::Help);
    }

    #[test]
    fn ids_are_accepted_with_or_without_a_hash() {
        assert_eq!(ok("/status 42"), Command::Status { id: TicketId(42) });
        assert_eq!(ok("/approve #7"), Command::Approve { id: TicketId(7) });
    }

    #[test]
    fn a_missing_id_is_a_usage_error() {
        for text in ["/status", "/approve  ", "/reject", "/cancel\n", "/resume"] {
            assert_eq!(problem(text), "missing ticket id", "{text}");
        }
        assert_eq!(
            err("/reject").to_string(),
            "missing ticket id. Usage: /reject <id> [comment]"
        );
    }

    #[test]
    fn a_bad_id_explains_ids_and_shows_usage() {
        assert_eq!(
            err("/status abc").to_string(),
            "'abc' is not a ticket id; use a number like 42 or #42. Usage: /status <id>"
        );
        assert!(problem("/approve 0").contains("'0' is not a ticket id"));
        assert!(problem("/cancel -3").contains("'-3' is not a ticket id"));
    }

    #[test]
    fn text_after_a_lone_id_is_rejected() {
        assert_eq!(problem("/status 42 extra"), "unexpected text after the id");
        assert_eq!(problem("/approve 42 lgtm"), "unexpected text after the id");
    }

    #[test]
    fn reject_takes_an_optional_comment() {
        assert_eq!(
            ok("/reject 42 too risky, use HPA"),
            Command::Reject {
                id: TicketId(42),
                comment: Some("too risky, use HPA".into())
            }
        );
        assert_eq!(
            ok("/reject #42  "),
            Command::Reject {
                id: TicketId(42),
                comment: None
            }
        );
    }

    #[test]
    fn a_multiline_comment_keeps_its_lines() {
        assert_eq!(
            ok("/reject 42\nfirst\nsecond"),
            Command::Reject {
                id: TicketId(42),
                comment: Some("first\nsecond".into())
            }
        );
    }

    #[test]
    fn cancel_takes_an_optional_reason() {
        assert_eq!(
            ok("/cancel 42 dup of #41"),
            Command::Cancel {
                id: TicketId(42),
                reason: Some("dup of #41".into())
            }
        );
        assert_eq!(
            ok("/cancel 42"),
            Command::Cancel {
                id: TicketId(42),
                reason: None
            }
        );
    }

    #[test]
    fn resume_takes_optional_turns_from_1_to_100() {
        let resume = |turns| Command::Resume {
            id: TicketId(42),
            turns,
        };
        assert_eq!(ok("/resume 42"), resume(None));
        assert_eq!(ok("/resume 42 10"), resume(Some(10)));
        assert_eq!(ok("/resume #42 1"), resume(Some(1)));
        assert_eq!(ok("/resume 42 100"), resume(Some(100)));
    }

    #[test]
    fn resume_rejects_turns_outside_the_range_or_not_a_number() {
        for text in [
            "/resume 42 0",
            "/resume 42 101",
            "/resume 42 500",
            "/resume 42 many",
            "/resume 42 -1",
            "/resume 42 +5",
            "/resume 42 2.5",
            "/resume 42 99999999999999999999",
        ] {
            assert_eq!(
                problem(text),
                "turns must be a whole number from 1 to 100",
                "{text}"
            );
        }
        assert_eq!(
            err("/resume 42 0").to_string(),
            "turns must be a whole number from 1 to 100. Usage: /resume <id> [turns]"
        );
    }

    #[test]
    fn text_after_the_turns_is_rejected() {
        assert_eq!(
            problem("/resume 42 10 please"),
            "unexpected text after the turns"
        );
    }

    #[test]
    fn the_command_word_ignores_case() {
        assert_eq!(ok("/Ticket x"), Command::Ticket { text: "x".into() });
        assert_eq!(ok("/HELP"), Command::Help);
    }

    #[test]
    fn commands_match_whole_words_only() {
        for text in ["/tick x", "/ticketx", "/helpme", "/stat 42"] {
            assert!(matches!(err(text), CommandError::Unknown { .. }), "{text}");
        }
    }

    #[test]
    fn an_unknown_command_points_to_help_with_the_prefix() {
        assert_eq!(
            err("/frobnicate now").to_string(),
            "Unknown command /frobnicate. Send /help for the list."
        );
        let matrix = parse_prefixed("!frobnicate", "!", None);
        assert_eq!(
            matrix.map(|r| r.map_err(|e| e.to_string())),
            Some(Err(
                "Unknown command !frobnicate. Send !help for the list.".into()
            ))
        );
    }

    #[test]
    fn an_unknown_word_is_shown_as_typed_and_cut_to_32_chars() {
        let long = format!("Frob{}", "é".repeat(40));
        let CommandError::Unknown { word, prefix } = err(&format!("/{long} x")) else {
            panic!("expected unknown");
        };
        assert_eq!(word.chars().count(), 32);
        assert!(word.starts_with("Frobé"));
        assert_eq!(prefix, "/");
    }

    #[test]
    fn text_without_the_prefix_is_not_a_command() {
        assert_eq!(slash("ticket disk full"), None);
        assert_eq!(slash(" /ticket disk full"), None);
        assert_eq!(slash(""), None);
        assert_eq!(parse_prefixed("/ticket x", "!", None), None);
    }

    #[test]
    fn a_bare_prefix_is_not_a_command() {
        assert_eq!(slash("/"), None);
        assert_eq!(slash("/ "), None);
        assert_eq!(slash("/ ticket x"), None);
        assert_eq!(slash("/\nticket"), None);
        assert_eq!(parse_prefixed("!", "!", None), None);
    }

    #[test]
    fn an_empty_prefix_matches_nothing() {
        assert_eq!(parse_prefixed("help", "", None), None);
    }

    #[test]
    fn a_command_for_another_bot_is_not_ours() {
        assert_eq!(slash("/ticket@other_bot x"), None);
        assert_eq!(slash("/frobnicate@other_bot"), None);
        assert_eq!(slash("/help@"), None);
    }

    #[test]
    fn a_command_addressed_to_us_ignores_the_case_of_our_name() {
        assert_eq!(
            ok("/ticket@Aura_Bot x"),
            Command::Ticket { text: "x".into() }
        );
        assert_eq!(
            parse_prefixed("/help@aura_bot", "/", Some("@aura_bot")),
            Some(Ok(Command::Help))
        );
        assert_eq!(
            err("/frob@aura_bot").to_string(),
            "Unknown command /frob. Send /help for the list."
        );
    }

    #[test]
    fn an_addressed_command_is_ignored_when_our_name_is_unknown() {
        assert_eq!(parse_prefixed("/help@aura_bot", "/", None), None);
        assert_eq!(parse_prefixed("/help", "/", None), Some(Ok(Command::Help)));
    }

    #[test]
    fn a_suffix_with_no_word_is_not_a_command() {
        assert_eq!(slash("/@aura_bot"), None);
    }

    #[test]
    fn mention_words_parse_like_commands() {
        assert_eq!(
            parse_words("ticket disk full", "/"),
            Some(Ok(Command::Ticket {
                text: "disk full".into()
            }))
        );
        assert_eq!(
            parse_words("  Approve #42", "!"),
            Some(Ok(Command::Approve { id: TicketId(42) }))
        );
        assert_eq!(
            parse_words("ticket\nline1\nline2", "/"),
            Some(Ok(Command::Ticket {
                text: "line1\nline2".into()
            }))
        );
    }

    #[test]
    fn a_mention_that_is_not_a_command_is_a_question() {
        assert_eq!(parse_words("why is the disk full?", "/"), None);
        assert_eq!(parse_words("tick 42", "/"), None);
        assert_eq!(parse_words("   ", "/"), None);
        assert_eq!(parse_words("", "/"), None);
    }

    #[test]
    fn mention_usage_errors_use_the_given_prefix() {
        assert_eq!(
            parse_words("status", "!").map(|r| r.map_err(|e| e.to_string())),
            Some(Err("missing ticket id. Usage: !status <id>".into()))
        );
    }

    #[test]
    fn every_parsed_command_reports_its_name() {
        let cases = [
            ("/ticket x", CommandName::Ticket),
            ("/tickets", CommandName::Tickets),
            ("/status 1", CommandName::Status),
            ("/approve 1", CommandName::Approve),
            ("/reject 1", CommandName::Reject),
            ("/cancel 1", CommandName::Cancel),
            ("/resume 1", CommandName::Resume),
            ("/escalate 1", CommandName::Escalate),
            ("/help", CommandName::Help),
        ];
        for (text, name) in cases {
            assert_eq!(ok(text).name(), name, "{text}");
        }
        assert_eq!(cases.len(), CommandName::ALL.len());
    }

    #[test]
    fn every_name_round_trips_through_its_word() {
        for name in CommandName::ALL {
            assert_eq!(CommandName::from_word(name.word()), Some(name));
            assert_eq!(name.to_string(), name.word());
        }
    }

    #[test]
    fn all_names_are_distinct() {
        let names: std::collections::HashSet<_> = CommandName::ALL.into_iter().collect();
        assert_eq!(names.len(), CommandName::ALL.len());
    }

    #[test]
    fn usage_lines_have_no_trailing_space() {
        assert_eq!(
            CommandName::Reject.usage("/"),
            "Usage: /reject <id> [comment]"
        );
        assert_eq!(CommandName::Tickets.usage("!"), "Usage: !tickets");
    }

    #[test]
    fn help_lists_every_command() {
        let help = help_text("/");
        for name in CommandName::ALL {
            let line = format!("{} — {}", name.synopsis("/"), name.summary());
            assert!(help.lines().any(|l| l == line), "missing {line:?}");
        }
        assert_eq!(help.lines().count(), CommandName::ALL.len() + 1);
        assert!(
            help.contains("/reject <id> [comment] — reject a ticket's plan (back to planning)")
        );
        assert!(help.contains("/help — show this help"));
    }

    #[test]
    fn help_ends_with_the_plain_message_hint() {
        assert_eq!(
            help_text("/").lines().last(),
            Some(
                "A plain message in a ticket's thread joins the ticket; in a direct message it opens one."
            )
        );
    }

    #[test]
    fn escalate_takes_one_question_number() {
        assert_eq!(ok("/escalate 12"), Command::Escalate { number: 12 });
        assert_eq!(ok("/escalate #3"), Command::Escalate { number: 3 });
        assert_eq!(
            problem("/escalate"),
            "missing question number (it is in the answer)"
        );
        assert_eq!(
            problem("/escalate x"),
            "the question number is a whole number like 12"
        );
        assert_eq!(
            problem("/escalate 0"),
            "the question number is a whole number like 12"
        );
        assert_eq!(problem("/escalate 1 2"), "unexpected text after the id");
        assert_eq!(
            parse_words("escalate 7", "/"),
            Some(Ok(Command::Escalate { number: 7 }))
        );
    }

    #[test]
    fn help_uses_the_given_prefix() {
        let help = help_text("!");
        assert!(help.contains("!status <id> — show a ticket"));
        assert!(!help.contains("/status"));
    }
}
