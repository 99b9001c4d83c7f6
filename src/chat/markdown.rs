//! Discord's markdown dialect: user text escaped, mentions defused, at most 2000 characters a message.
//!
//! Every message Aura sends also carries an empty `allowed_mentions`, so nothing in it can ping; the escaping here
//! keeps user text from *looking* like markup, a mention, a masked link or a heading.

use super::text::{Dialect, Span};

/// U+200B ZERO WIDTH SPACE: invisible; after '@' or '<' it stops Discord from reading a mention.
const ZWSP: char = '\u{200B}';

/// Characters Discord's markdown gives a meaning anywhere in a line; a backslash makes any of them literal.
const MARKUP: [char; 10] = ['\\', '*', '_', '~', '`', '|', '[', ']', '(', ')'];

/// Characters that start a heading, list or quote when they open a line.
const LINE_MARKUP: [char; 3] = ['#', '-', '>'];

/// What may follow '<' in a mention, channel, role, emoji, timestamp or command reference.
const TAG_STARTS: [char; 5] = ['@', '#', ':', 'a', 't'];

/// Discord message content: 2000 characters, measured in UTF-16 units (never less than Discord's count).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscordMarkdown;

impl Dialect for DiscordMarkdown {
    fn limit(&self) -> usize {
        2000
    }

    fn measure(&self, rendered: &str) -> usize {
        rendered.encode_utf16().count()
    }

    fn span(&self, span: &Span) -> String {
        match span {
            Span::Text(s) => escape(s),
            Span::Bold(s) => wrap("**", s, ""),
            // Fenced with invisible spaces: `**a***b*` would otherwise read as one odd bold run.
            Span::Italic(s) => wrap("*", s, "\u{200B}"),
            Span::Code(s) => inline_code(s),
        }
    }

    fn code_block(&self, code: &str) -> String {
        // The content starts on its own line, so its first word is never taken for a language tag.
        format!("```\n{}\n```", separate_backticks(code))
    }
}

/// `marker` around the escaped text, with leading and trailing whitespace outside (Discord ignores `* x *`).
fn wrap(marker: &str, s: &str, fence: &str) -> String {
    let core = s.trim();
    if core.is_empty() {
        return s.to_owned();
    }
    let start = s.len() - s.trim_start().len();
    let end = start + core.len();
    format!(
        "{}{fence}{marker}{}{marker}{fence}{}",
        &s[..start],
        escape(core),
        &s[end..]
    )
}

/// Inline code; a backtick inside needs double-backtick delimiters (and no two backticks in a row inside).
fn inline_code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {} ``", separate_backticks(s))
    } else {
        format!("`{s}`")
    }
}

/// Puts an invisible space between adjacent backticks, so code can never close its fence early.
fn separate_backticks(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '`' && chars.peek() == Some(&'`') {
            out.push(ZWSP);
        }
    }
    out
}

/// Escapes markup, defuses `@everyone`/`@here` and `<@…>`-style tags, and leaves bare URLs intact.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut line_start = true;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if (out.is_empty() || out.ends_with(char::is_whitespace))
            && let Some(url) = bare_url(rest)
        {
            out.push_str(url);
            rest = &rest[url.len()..];
            line_start = false;
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if MARKUP.contains(&c) || (line_start && LINE_MARKUP.contains(&c)) {
            out.push('\\');
        }
        out.push(c);
        line_start &= c.is_whitespace();
        let next = rest.chars().next();
        // A trailing '@' or '<' is guarded too: the next span may continue it.
        let mention = c == '@' && next.is_none_or(|_| starts_broadcast(rest));
        let tag = c == '<' && next.is_none_or(|n| TAG_STARTS.contains(&n) || n == '/');
        if mention || tag {
            out.push(ZWSP);
        }
    }
    out
}

/// Whether `rest` (after an '@') starts `everyone` or `here`, the mentions that reach a whole channel.
fn starts_broadcast(rest: &str) -> bool {
    ["everyone", "here"].iter().any(|w| {
        rest.get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
    })
}

/// A leading `http(s)://…` token that contains no markup, kept verbatim so the link still works.
fn bare_url(rest: &str) -> Option<&str> {
    if !(rest.starts_with("https://") || rest.starts_with("http://")) {
        return None;
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let url = &rest[..end];
    let unsafe_char = |c: char| {
        matches!(
            c,
            '*' | '~' | '`' | '|' | '[' | ']' | '(' | ')' | '<' | '>' | '\\'
        )
    };
    (!url.contains(unsafe_char)).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::text::{RichText, render, render_chunks, render_truncated};

    fn text(s: &str) -> String {
        DiscordMarkdown.span(&Span::Text(s.to_owned()))
    }

    /// What a Discord client shows: escapes resolved, invisible spaces dropped (markup markers kept).
    fn shown(rendered: &str) -> String {
        let mut out = String::new();
        let mut chars = rendered.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                ZWSP => {}
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn markup_in_user_text_is_escaped() {
        assert_eq!(
            text("**bold** _i_ ~~s~~ `c` ||spoiler|| [x](https://evil) a\\b"),
            r"\*\*bold\*\* \_i\_ \~\~s\~\~ \`c\` \|\|spoiler\|\| \[x\]\(https://evil\) a\\b"
        );
    }

    #[test]
    fn headings_lists_and_quotes_are_escaped_only_where_they_would_start_a_line() {
        assert_eq!(text("# title"), r"\# title");
        assert_eq!(text("  - item"), r"  \- item");
        assert_eq!(text("> quote"), r"\> quote");
        assert_eq!(text("pod-7f9c #3 a>b"), "pod-7f9c #3 a>b");
    }

    #[test]
    fn broadcast_mentions_and_tags_are_defused() {
        assert_eq!(text("@everyone"), "@\u{200B}everyone");
        assert_eq!(text("hi @Here!"), "hi @\u{200B}Here!");
        assert_eq!(text("alice@example.org"), "alice@example.org");
        assert_eq!(
            text("<@123> <@&4> <#5> <t:1:R>"),
            "<\u{200B}@123> <\u{200B}@&4> <\u{200B}#5> <\u{200B}t:1:R>"
        );
        assert_eq!(text("a < b"), "a < b");
        assert_eq!(text("trailing @"), "trailing @\u{200B}");
    }

    #[test]
    fn bare_urls_stay_clickable_but_urls_with_markup_are_escaped() {
        assert_eq!(
            text("see https://grafana.local/d/a_b?x=1 now"),
            "see https://grafana.local/d/a_b?x=1 now"
        );
        assert_eq!(text("https://x/(y)"), r"https://x/\(y\)");
        assert_eq!(text("xhttps://a_b"), r"xhttps://a\_b");
    }

    #[test]
    fn bold_and_italic_keep_whitespace_outside_the_markers() {
        let d = DiscordMarkdown;
        assert_eq!(d.span(&Span::Bold("Ticket #1 ".into())), "**Ticket #1** ");
        assert_eq!(
            d.span(&Span::Italic(" done".into())),
            " \u{200B}*done*\u{200B}"
        );
        assert_eq!(d.span(&Span::Bold("a*b".into())), r"**a\*b**");
        assert_eq!(d.span(&Span::Bold("  ".into())), "  ");
        let line = RichText::new().bold("a").italic("b");
        assert_eq!(render(&line, &d), "**a**\u{200B}*b*\u{200B}", "never `***`");
    }

    #[test]
    fn code_cannot_close_its_fence_early() {
        let d = DiscordMarkdown;
        assert_eq!(
            d.span(&Span::Code("kubectl get pods".into())),
            "`kubectl get pods`"
        );
        assert_eq!(d.span(&Span::Code("a`b".into())), "`` a`b ``");
        assert_eq!(
            d.span(&Span::Code("@everyone <@1>".into())),
            "`@everyone <@1>`"
        );
        let block = d.code_block("x\n```\ny ````");
        assert!(block.starts_with("```\n") && block.ends_with("\n```"));
        let inner = &block[4..block.len() - 4];
        assert!(!inner.contains("``"), "{inner:?}");
    }

    #[test]
    fn long_messages_split_under_two_thousand_units_with_closed_fences() {
        let lines: Vec<String> = (0..300).map(|i| format!("{i:03} ```x``` **y**")).collect();
        let text = RichText::new()
            .text("*".repeat(3000))
            .newline()
            .code_block(lines.join("\n"))
            .italic("@everyone ".repeat(300));
        let chunks = render_chunks(&text, &DiscordMarkdown);
        assert!(chunks.len() >= 5, "{}", chunks.len());
        for c in &chunks {
            assert!(c.encode_utf16().count() <= 2000);
            assert_eq!(c.matches("```").count() % 2, 0, "fences balanced in {c:?}");
            assert!(!c.contains("@everyone"), "defused in every part");
        }
        let shown: String = chunks.iter().map(|c| shown(c)).collect();
        assert!(
            shown.contains(&"*".repeat(1000)),
            "escaped stars show as stars"
        );
        assert!(
            render_truncated(&text, &DiscordMarkdown)
                .encode_utf16()
                .count()
                <= 2000
        );
    }
}
