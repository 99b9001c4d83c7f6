//! Rich text as Aura composes it, rendered safely for one chat platform and split at that platform's limit.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

pub use super::markdown::DiscordMarkdown;

/// U+2060 WORD JOINER: invisible, but stops `@name` from being parsed as a mention.
const WORD_JOINER: char = '\u{2060}';

/// A run of text inside a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Plain text.
    Text(String),
    /// Bold text.
    Bold(String),
    /// Italic text.
    Italic(String),
    /// Inline code.
    Code(String),
}

impl Span {
    /// The span's text without markup.
    pub fn as_str(&self) -> &str {
        match self {
            Span::Text(s) | Span::Bold(s) | Span::Italic(s) | Span::Code(s) => s,
        }
    }

    /// A span of the same kind holding `text`.
    fn with(&self, text: &str) -> Span {
        let text = text.to_owned();
        match self {
            Span::Text(_) => Span::Text(text),
            Span::Bold(_) => Span::Bold(text),
            Span::Italic(_) => Span::Italic(text),
            Span::Code(_) => Span::Code(text),
        }
    }
}

/// A line of spans, or a preformatted code block (multi-line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    /// One line of spans, without the line break.
    Line(Vec<Span>),
    /// A preformatted code block, verbatim.
    Code(String),
}

/// A message as Aura composes it; user-supplied strings always go in as Span::Text (escaped on render).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichText {
    /// The lines and code blocks, in order.
    pub blocks: Vec<Block>,
}

impl RichText {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a plain text span to the current (last) line, starting a line if there is none; newlines inside `s` start new lines.
    pub fn text(self, s: impl AsRef<str>) -> Self {
        self.spans(s.as_ref(), Span::Text)
    }

    /// Appends a bold span, with the same newline rule as [`RichText::text`].
    pub fn bold(self, s: impl AsRef<str>) -> Self {
        self.spans(s.as_ref(), Span::Bold)
    }

    /// Appends an italic span, with the same newline rule as [`RichText::text`].
    pub fn italic(self, s: impl AsRef<str>) -> Self {
        self.spans(s.as_ref(), Span::Italic)
    }

    /// Appends an inline code span, with newlines replaced by spaces.
    pub fn code(mut self, s: impl AsRef<str>) -> Self {
        let code = s.as_ref().replace("\r\n", " ").replace('\n', " ");
        self.push_span(Span::Code(code));
        self
    }

    /// Ends the current line (starting an empty one if there is none), so every call adds exactly one line break.
    pub fn newline(mut self) -> Self {
        self.line_mut();
        self.blocks.push(Block::Line(Vec::new()));
        self
    }

    /// Appends a code block as its own block (a following span starts a new line); an empty block is ignored.
    pub fn code_block(mut self, s: impl AsRef<str>) -> Self {
        if !s.as_ref().is_empty() {
            self.blocks.push(Block::Code(s.as_ref().to_owned()));
        }
        self
    }

    /// The text without markup (lines joined by '\n', code blocks verbatim) — for logs, tests and plain-text bodies.
    pub fn plain(&self) -> String {
        let blocks: Vec<String> = self
            .blocks
            .iter()
            .map(|block| match block {
                Block::Line(spans) => spans.iter().map(Span::as_str).collect(),
                Block::Code(code) => code.clone(),
            })
            .collect();
        blocks.join("\n")
    }

    /// Whether the message has no blocks at all.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Appends `s` as spans made by `make`, one line per '\n'-separated piece (a '\r' before '\n' is dropped).
    fn spans(mut self, s: &str, make: fn(String) -> Span) -> Self {
        for (i, piece) in s.split('\n').enumerate() {
            if i > 0 {
                self = self.newline();
            }
            let piece = piece.strip_suffix('\r').unwrap_or(piece);
            self.push_span(make(piece.to_owned()));
        }
        self
    }

    /// Appends a span to the current line, merging it into the previous span when both are of the same kind.
    fn push_span(&mut self, span: Span) {
        if span.as_str().is_empty() {
            return;
        }
        let line = self.line_mut();
        match (line.last_mut(), span) {
            (Some(Span::Text(a)), Span::Text(b))
            | (Some(Span::Bold(a)), Span::Bold(b))
            | (Some(Span::Italic(a)), Span::Italic(b))
            | (Some(Span::Code(a)), Span::Code(b)) => a.push_str(&b),
            (_, span) => line.push(span),
        }
    }

    /// The current line, started if the message is empty or ends with a code block.
    fn line_mut(&mut self) -> &mut Vec<Span> {
        if !matches!(self.blocks.last(), Some(Block::Line(_))) {
            self.blocks.push(Block::Line(Vec::new()));
        }
        match self.blocks.last_mut() {
            Some(Block::Line(spans)) => spans,
            _ => unreachable!("a line was just ensured"),
        }
    }
}

/// How one platform renders and measures text.
pub trait Dialect {
    /// Maximum message length in this dialect's unit.
    fn limit(&self) -> usize;
    /// Length of rendered text in this dialect's unit; must be additive over concatenation and at least one per char.
    fn measure(&self, rendered: &str) -> usize;
    /// Renders one span with user text escaped.
    fn span(&self, span: &Span) -> String;
    /// Renders a whole code block (content escaped).
    fn code_block(&self, code: &str) -> String;
}

impl<D: Dialect + ?Sized> Dialect for &D {
    fn limit(&self) -> usize {
        (**self).limit()
    }
    fn measure(&self, rendered: &str) -> usize {
        (**self).measure(rendered)
    }
    fn span(&self, span: &Span) -> String {
        (**self).span(span)
    }
    fn code_block(&self, code: &str) -> String {
        (**self).code_block(code)
    }
}

/// A dialect with a different limit, e.g. Telegram's 1024-unit media captions.
#[derive(Debug, Clone, Copy)]
pub struct Limited<D> {
    /// The dialect that renders and measures.
    pub inner: D,
    /// The limit used instead of the inner dialect's.
    pub limit: usize,
}

impl<D: Dialect> Dialect for Limited<D> {
    fn limit(&self) -> usize {
        self.limit
    }
    fn measure(&self, rendered: &str) -> usize {
        self.inner.measure(rendered)
    }
    fn span(&self, span: &Span) -> String {
        self.inner.span(span)
    }
    fn code_block(&self, code: &str) -> String {
        self.inner.code_block(code)
    }
}

/// Telegram Bot API with parse_mode = HTML: 4096 UTF-16 units (markup included, which is conservative), &<> escaped, mentions broken.
#[derive(Debug, Clone, Copy, Default)]
pub struct TelegramHtml;

impl Dialect for TelegramHtml {
    fn limit(&self) -> usize {
        4096
    }

    fn measure(&self, rendered: &str) -> usize {
        rendered.encode_utf16().count()
    }

    fn span(&self, span: &Span) -> String {
        html_span(span, true)
    }

    fn code_block(&self, code: &str) -> String {
        format!("<pre>{}</pre>", escape_html(code, false))
    }
}

/// Matrix `org.matrix.custom.html`: the same markup as Telegram's, limited well under the 64 KiB event size.
/// Mentions need no guarding: every event Aura sends carries an empty `m.mentions` (intentional mentions), so
/// text in it pings nobody, and MXIDs stay copyable.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatrixHtml;

impl Dialect for MatrixHtml {
    fn limit(&self) -> usize {
        16_000
    }

    fn measure(&self, rendered: &str) -> usize {
        rendered.encode_utf16().count()
    }

    fn span(&self, span: &Span) -> String {
        html_span(span, false)
    }

    fn code_block(&self, code: &str) -> String {
        format!("<pre>{}</pre>", escape_html(code, false))
    }
}

fn html_span(span: &Span, guard_mentions: bool) -> String {
    match span {
        Span::Text(s) => escape_html(s, guard_mentions),
        Span::Bold(s) => format!("<b>{}</b>", escape_html(s, guard_mentions)),
        Span::Italic(s) => format!("<i>{}</i>", escape_html(s, guard_mentions)),
        Span::Code(s) => format!("<code>{}</code>", escape_html(s, false)),
    }
}

/// Escapes `&`, `<` and `>`; with `guard_mentions`, puts a word joiner after each '@' that could start a mention.
fn escape_html(s: &str, guard_mentions: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
        // A trailing '@' is guarded too: the next span may begin with a name.
        let starts_name = |n: &char| n.is_alphanumeric() || *n == '_';
        if guard_mentions && c == '@' && chars.peek().is_none_or(starts_name) {
            out.push(WORD_JOINER);
        }
    }
    out
}

/// Renders the whole text as one string (lines joined by '\n'). No length check.
pub fn render(text: &RichText, dialect: &impl Dialect) -> String {
    let blocks: Vec<String> = text
        .blocks
        .iter()
        .map(|block| match block {
            Block::Line(spans) => render_line(spans, dialect),
            Block::Code(code) => dialect.code_block(code),
        })
        .collect();
    blocks.join("\n")
}

/// Renders and splits into chunks each of which measures <= dialect.limit() (no chunk empty or whitespace-only).
pub fn render_chunks(text: &RichText, dialect: &impl Dialect) -> Vec<String> {
    let mut units = Vec::new();
    for block in &text.blocks {
        match block {
            Block::Line(spans) => line_units(spans, dialect, &mut units),
            Block::Code(code) => code_units(code, dialect, &mut units),
        }
    }
    pack(units, dialect)
}

/// Renders into one chunk; if too long, keeps as many whole lines as fit and ends with a line "…" (for edits of a message that cannot be split).
pub fn render_truncated(text: &RichText, dialect: &impl Dialect) -> String {
    let full = render(text, dialect);
    if dialect.measure(&full) <= dialect.limit() {
        return full;
    }
    let ellipsis = dialect.span(&Span::Text("…".to_owned()));
    let reserve = dialect.measure("\n") + dialect.measure(&ellipsis);
    let budget = Limited {
        inner: dialect,
        limit: dialect.limit().saturating_sub(reserve),
    };
    // The first chunk at the reduced limit is whole lines, or the start of a line too long for any chunk.
    match render_chunks(text, &budget).into_iter().next() {
        Some(first) => format!("{first}\n{ellipsis}"),
        None => ellipsis,
    }
}

/// Renders one line's non-empty spans.
fn render_line(spans: &[Span], dialect: &impl Dialect) -> String {
    spans
        .iter()
        .filter(|span| !span.as_str().is_empty())
        .map(|span| dialect.span(span))
        .collect()
}

/// A rendered line, piece of a line, or code block, with its measure cached (measure is additive).
struct Unit {
    text: String,
    measure: usize,
    blank: bool,
}

impl Unit {
    /// Measures `text`; `blank` says whether its visible content is whitespace only.
    fn new(text: String, dialect: &impl Dialect, blank: bool) -> Self {
        let measure = dialect.measure(&text);
        Unit {
            text,
            measure,
            blank,
        }
    }

    /// Appends `next` after the separator `sep`, which measures `sep_measure`.
    fn append(&mut self, sep: &str, sep_measure: usize, next: Unit) {
        self.text.push_str(sep);
        self.text.push_str(&next.text);
        self.measure += sep_measure + next.measure;
        self.blank &= next.blank;
    }
}

/// Packs units greedily into chunks joined by '\n'; empty lines at chunk boundaries and blank chunks are dropped.
fn pack(units: Vec<Unit>, dialect: &impl Dialect) -> Vec<String> {
    let (limit, nl) = (dialect.limit(), dialect.measure("\n"));
    let mut chunks = Vec::new();
    let mut current: Option<Unit> = None;
    let mut empty_lines = 0;
    for unit in units {
        if unit.text.is_empty() {
            empty_lines += usize::from(current.is_some());
            continue;
        }
        let breaks = empty_lines + 1;
        empty_lines = 0;
        match current.as_mut() {
            Some(c) if c.measure + breaks * nl + unit.measure <= limit => {
                c.append(&"\n".repeat(breaks), breaks * nl, unit);
            }
            _ => {
                chunks.extend(current.take().filter(|c| !c.blank).map(|c| c.text));
                current = Some(unit);
            }
        }
    }
    chunks.extend(current.filter(|c| !c.blank).map(|c| c.text));
    chunks
}

/// Units of one line: the whole line if it fits, else runs of whole spans, with too-long spans cut into pieces.
fn line_units(spans: &[Span], dialect: &impl Dialect, out: &mut Vec<Unit>) {
    let limit = dialect.limit();
    let blank = spans.iter().all(|span| span.as_str().trim().is_empty());
    let whole = Unit::new(render_line(spans, dialect), dialect, blank);
    if whole.measure <= limit {
        out.push(whole);
        return;
    }
    let mut current: Option<Unit> = None;
    for span in spans.iter().filter(|span| !span.as_str().is_empty()) {
        let unit = Unit::new(dialect.span(span), dialect, span.as_str().trim().is_empty());
        if let Some(c) = current
            .as_mut()
            .filter(|c| c.measure + unit.measure <= limit)
        {
            c.append("", 0, unit);
            continue;
        }
        out.extend(current.take());
        if unit.measure <= limit {
            current = Some(unit);
        } else {
            let mut pieces = split_span(span, dialect);
            current = pieces.pop();
            out.extend(pieces);
        }
    }
    out.extend(current);
}

/// Cuts a span's raw text into pieces that each render (as their own span, tags closed) within the limit.
fn split_span(span: &Span, dialect: &impl Dialect) -> Vec<Unit> {
    let limit = dialect.limit();
    let fits = |piece: &str| dialect.measure(&dialect.span(&span.with(piece))) <= limit;
    let mut pieces = Vec::new();
    let mut rest = span.as_str();
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(cut(rest, limit, &fits));
        let rendered = dialect.span(&span.with(piece));
        pieces.push(Unit::new(rendered, dialect, piece.trim().is_empty()));
        rest = tail;
    }
    pieces
}

/// Units of one code block: whole if it fits, else complete blocks of whole lines, cutting a too-long line at graphemes.
fn code_units(code: &str, dialect: &impl Dialect, out: &mut Vec<Unit>) {
    let limit = dialect.limit();
    let fits = |piece: &str| dialect.measure(&dialect.code_block(piece)) <= limit;
    let mut rest = code;
    while !rest.is_empty() {
        let ends = line_ends(rest, limit);
        let len = match ends.partition_point(|&end| fits(&rest[..end])) {
            0 => cut(rest, limit, &fits),
            n => ends[n - 1],
        };
        let (piece, tail) = rest.split_at(len);
        out.push(Unit::new(
            dialect.code_block(piece),
            dialect,
            piece.trim().is_empty(),
        ));
        // The line break at a split point is carried by the block boundary.
        rest = tail.strip_prefix('\n').unwrap_or(tail);
    }
}

/// Byte offsets where non-empty runs of whole lines of `rest` end, within `max_chars` chars (a longer prefix cannot fit).
fn line_ends(rest: &str, max_chars: usize) -> Vec<usize> {
    let mut ends: Vec<usize> = rest
        .char_indices()
        .take(max_chars.saturating_add(1))
        .filter(|&(i, c)| c == '\n' && i > 0)
        .map(|(i, _)| i)
        .collect();
    if rest.chars().nth(max_chars).is_none() {
        ends.push(rest.len());
    }
    ends
}

/// Byte length of the longest prefix of `rest` that fits, cut between grapheme clusters and preferably after whitespace.
fn cut(rest: &str, max_chars: usize, fits: &impl Fn(&str) -> bool) -> usize {
    let ends = grapheme_ends(rest, max_chars);
    let n = ends.partition_point(|&end| fits(&rest[..end]));
    if n == 0 {
        return char_cut(rest, max_chars, fits);
    }
    let end = ends[n - 1];
    if end == rest.len() {
        return end;
    }
    after_last_whitespace(rest, &ends[..n]).unwrap_or(end)
}

/// Byte offsets where grapheme clusters of `rest` end, within `max_chars` chars.
fn grapheme_ends(rest: &str, max_chars: usize) -> Vec<usize> {
    let mut chars = 0;
    rest.grapheme_indices(true)
        .map_while(|(i, g)| {
            chars += g.chars().count();
            (chars <= max_chars).then_some(i + g.len())
        })
        .collect()
}

/// The last cut in `ends` that follows a whitespace cluster and leaves a non-blank piece.
fn after_last_whitespace(rest: &str, ends: &[usize]) -> Option<usize> {
    let pos = ends
        .windows(2)
        .rposition(|w| rest[w[0]..w[1]].ends_with(char::is_whitespace))?;
    let end = ends[pos + 1];
    (!rest[..end].trim().is_empty()).then_some(end)
}

/// Cuts between chars, for a single grapheme cluster longer than the limit (only pathological mark runs); takes at least one char.
fn char_cut(rest: &str, max_chars: usize, fits: &impl Fn(&str) -> bool) -> usize {
    let ends: Vec<usize> = rest
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take(max_chars)
        .collect();
    match ends.partition_point(|&end| fits(&rest[..end])) {
        0 => rest.chars().next().map_or(rest.len(), char::len_utf8),
        n => ends[n - 1],
    }
}

/// `45 s`, `12 min`, `2 h 5 min`.
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => match (secs % 3600) / 60 {
            0 => format!("{} h", secs / 3600),
            m => format!("{} h {m} min", secs / 3600),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: &str = "👨\u{200d}👩\u{200d}👧";
    const FLAG: &str = "🇩🇪";
    const E_ACUTE: &str = "e\u{301}";

    fn tg(text: &RichText) -> Vec<String> {
        render_chunks(text, &TelegramHtml)
    }

    fn utf16(s: &str) -> usize {
        s.encode_utf16().count()
    }

    /// Visible text of a rendered chunk: tags and word joiners removed, entities unescaped.
    fn strip(chunk: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in chunk.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                WORD_JOINER => {}
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    fn assert_tags_balanced(chunk: &str) {
        let mut open = Vec::new();
        for segment in chunk.split('<').skip(1) {
            let tag = segment
                .split('>')
                .next()
                .expect("split yields a first part");
            match tag.strip_prefix('/') {
                Some(name) => assert_eq!(open.pop(), Some(name), "misnested in {chunk:?}"),
                None => open.push(tag),
            }
        }
        assert!(open.is_empty(), "unclosed {open:?}");
    }

    /// Checks every chunk invariant and that only line breaks were lost.
    fn assert_sound(text: &RichText, dialect: &impl Dialect) -> Vec<String> {
        let chunks = render_chunks(text, dialect);
        for chunk in &chunks {
            assert!(dialect.measure(chunk) <= dialect.limit(), "too long");
            assert!(!strip(chunk).trim().is_empty(), "blank chunk {chunk:?}");
            assert!(!chunk.starts_with('\n') && !chunk.ends_with('\n'));
            assert_eq!(
                chunk.matches("<pre>").count(),
                chunk.matches("</pre>").count()
            );
            assert_tags_balanced(chunk);
            let entities = ["&amp;", "&lt;", "&gt;"].map(|e| chunk.matches(e).count());
            assert_eq!(
                chunk.matches('&').count(),
                entities.iter().sum::<usize>(),
                "cut entity"
            );
        }
        let got: String = chunks.iter().map(|c| strip(c)).collect();
        assert_eq!(got.replace('\n', ""), text.plain().replace('\n', ""));
        chunks
    }

    fn lines_of(n: usize, width: usize) -> RichText {
        (0..n).fold(RichText::new(), |t, _| t.text("x".repeat(width)).newline())
    }

    #[test]
    fn escaping_user_text_neutralises_markup_and_mentions() {
        let span = Span::Text("<b>x</b> & @everyone".to_owned());
        assert_eq!(
            TelegramHtml.span(&span),
            "&lt;b&gt;x&lt;/b&gt; &amp; @\u{2060}everyone"
        );
    }

    #[test]
    fn mentions_are_broken_in_bold_and_italic_but_not_in_code() {
        let d = TelegramHtml;
        assert_eq!(d.span(&Span::Bold("@_x".into())), "<b>@\u{2060}_x</b>");
        assert_eq!(d.span(&Span::Italic("@7".into())), "<i>@\u{2060}7</i>");
        assert_eq!(d.span(&Span::Text("a @ b".into())), "a @ b");
        assert_eq!(d.span(&Span::Code("@all".into())), "<code>@all</code>");
        assert_eq!(d.code_block("@all <x>"), "<pre>@all &lt;x&gt;</pre>");
    }

    #[test]
    fn a_trailing_at_sign_is_guarded_because_the_next_span_could_continue_it() {
        let text = RichText::new().text("@").bold("everyone");
        assert_eq!(render(&text, &TelegramHtml), "@\u{2060}<b>everyone</b>");
    }

    #[test]
    fn utf16_measurement_counts_an_emoji_as_two_units() {
        assert_eq!(TelegramHtml.measure("😀"), 2);
        assert_eq!(TelegramHtml.measure("é"), 1);
        assert_eq!(TelegramHtml.measure(FAMILY), 8);
    }

    #[test]
    fn rendering_joins_lines_and_code_blocks_with_newlines() {
        let text = RichText::new()
            .bold("Ticket ")
            .code("#42")
            .italic(" approved")
            .code_block("x < y\nz")
            .text("done");
        assert_eq!(
            render(&text, &TelegramHtml),
            "<b>Ticket </b><code>#42</code><i> approved</i>\n<pre>x &lt; y\nz</pre>\ndone"
        );
        assert_eq!(text.plain(), "Ticket #42 approved\nx < y\nz\ndone");
    }

    #[test]
    fn text_with_newlines_round_trips_through_plain() {
        for s in ["a\nb", "\na", "a\n", "\n\n", "a\r\nb"] {
            assert_eq!(
                RichText::new().text(s).plain(),
                s.replace('\r', ""),
                "{s:?}"
            );
        }
    }

    #[test]
    fn newline_twice_gives_an_empty_line() {
        let text = RichText::new().text("a").newline().newline().text("b");
        assert_eq!(text.plain(), "a\n\nb");
        assert_eq!(
            RichText::new().text("a").newline().text("b").plain(),
            "a\nb"
        );
    }

    #[test]
    fn inline_code_replaces_newlines_with_spaces() {
        let text = RichText::new().code("a\nb\r\nc");
        assert_eq!(
            text.blocks,
            vec![Block::Line(vec![Span::Code("a b c".into())])]
        );
    }

    #[test]
    fn a_span_after_a_code_block_starts_a_new_line() {
        let text = RichText::new().text("a").code_block("b").text("c");
        assert_eq!(text.blocks.len(), 3);
        assert_eq!(text.plain(), "a\nb\nc");
    }

    #[test]
    fn adjacent_spans_of_the_same_kind_are_merged() {
        let text = RichText::new().bold("a").bold("b").text("c").text("");
        let spans = vec![Span::Bold("ab".into()), Span::Text("c".into())];
        assert_eq!(text.blocks, vec![Block::Line(spans)]);
    }

    #[test]
    fn empty_text_renders_no_chunks() {
        assert!(tg(&RichText::new()).is_empty());
        assert!(tg(&RichText::new().newline().newline()).is_empty());
        assert_eq!(render_truncated(&RichText::new(), &TelegramHtml), "");
    }

    #[test]
    fn whitespace_only_text_renders_no_chunks() {
        assert!(tg(&RichText::new().text("  \n \t").bold(" ")).is_empty());
    }

    #[test]
    fn short_text_is_one_chunk_identical_to_render() {
        let text = RichText::new().text("hi ").bold("there").code_block("ls");
        assert_eq!(tg(&text), vec![render(&text, &TelegramHtml)]);
    }

    #[test]
    fn a_ten_thousand_char_message_splits_into_three_chunks() {
        let text = lines_of(100, 99);
        assert_eq!(text.plain().chars().count(), 10_000);
        let chunks = assert_sound(&text, &TelegramHtml);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| utf16(c) <= 4096));
        assert!(
            chunks
                .iter()
                .flat_map(|c| c.split('\n'))
                .all(|l| l.len() == 99)
        );
    }

    #[test]
    fn a_code_block_that_fits_is_never_split() {
        let code = (0..20)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let text = RichText::new().text("a".repeat(4000)).code_block(&code);
        let chunks = assert_sound(&text, &TelegramHtml);
        assert_eq!(chunks, vec!["a".repeat(4000), format!("<pre>{code}</pre>")]);
    }

    #[test]
    fn a_huge_code_block_is_split_into_several_closed_blocks() {
        let lines: Vec<String> = (0..400)
            .map(|i| format!("{i:04} kubectl get pods -A"))
            .collect();
        let chunks = assert_sound(&RichText::new().code_block(lines.join("\n")), &TelegramHtml);
        assert!(chunks.len() >= 3);
        let mut seen = Vec::new();
        for chunk in &chunks {
            let inner = chunk
                .strip_prefix("<pre>")
                .and_then(|c| c.strip_suffix("</pre>"));
            seen.extend(
                inner
                    .expect("one whole block per chunk")
                    .split('\n')
                    .map(str::to_owned),
            );
        }
        assert_eq!(seen, lines, "split only on line boundaries");
    }

    #[test]
    fn a_code_line_longer_than_the_limit_is_split_into_separate_blocks() {
        let text = RichText::new().code_block(format!("short\n{}\ntail", "y".repeat(10_000)));
        let chunks = assert_sound(&text, &TelegramHtml);
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0], "<pre>short</pre>");
        assert!(
            chunks
                .iter()
                .all(|c| c.starts_with("<pre>") && c.ends_with("</pre>"))
        );
        // The long line's last piece shares a block with the following line.
        assert!(chunks[3].ends_with("y\ntail</pre>"));
    }

    #[test]
    fn a_long_line_is_split_between_spans() {
        let text = RichText::new()
            .bold("a".repeat(3000))
            .text("b".repeat(3000));
        let chunks = assert_sound(&text, &TelegramHtml);
        assert_eq!(
            chunks,
            vec![format!("<b>{}</b>", "a".repeat(3000)), "b".repeat(3000)]
        );
    }

    #[test]
    fn a_long_span_is_split_after_the_last_whitespace() {
        let text = RichText::new().text("word ".repeat(2000));
        let chunks = assert_sound(&text, &TelegramHtml);
        assert_eq!(chunks.len(), 3);
        assert!(chunks[..2].iter().all(|c| c.ends_with("word ")));
        assert!(chunks.iter().all(|c| c.starts_with("word")));
    }

    #[test]
    fn each_piece_of_a_long_bold_span_is_its_own_bold_tag() {
        let chunks = assert_sound(&RichText::new().bold("z".repeat(9000)), &TelegramHtml);
        assert_eq!(chunks.len(), 3);
        assert!(
            chunks
                .iter()
                .all(|c| c.starts_with("<b>") && c.ends_with("</b>"))
        );
    }

    #[test]
    fn escape_entities_are_never_cut() {
        for s in ["&".repeat(5000), "<>".repeat(3000), "x&".repeat(3000)] {
            let chunks = assert_sound(&RichText::new().italic(&s), &TelegramHtml);
            assert!(chunks.len() > 1);
        }
    }

    #[test]
    fn grapheme_clusters_survive_splitting() {
        for cluster in [FAMILY, FLAG, E_ACUTE] {
            // The leading 'x' misaligns cluster boundaries with the limit.
            let text = RichText::new().text(format!("x{}", cluster.repeat(3000)));
            let chunks = assert_sound(&text, &TelegramHtml);
            assert!(chunks.len() > 1);
            for chunk in &chunks {
                let body = chunk.strip_prefix('x').unwrap_or(chunk);
                assert!(
                    body.graphemes(true).all(|g| g == cluster),
                    "{cluster} was split"
                );
            }
        }
    }

    #[test]
    fn a_pathologically_long_grapheme_cluster_is_still_cut_within_the_limit() {
        let zalgo = format!("e{}", "\u{301}".repeat(5000));
        let chunks = assert_sound(&RichText::new().text(zalgo), &TelegramHtml);
        assert_eq!(chunks.len(), 2);
    }

    #[test]
    fn empty_lines_at_split_points_are_dropped() {
        let text = (0..100).fold(RichText::new(), |t, _| {
            t.text("q".repeat(99)).newline().newline()
        });
        let chunks = assert_sound(&text, &TelegramHtml);
        assert!(
            chunks
                .iter()
                .all(|c| c.starts_with('q') && c.ends_with('q'))
        );
    }

    #[test]
    fn random_mixed_messages_split_soundly() {
        for seed in 1..=25 {
            let text = random_text(&mut Rng(seed), 10_000);
            assert!(text.plain().chars().count() >= 10_000);
            let chunks = assert_sound(&text, &TelegramHtml);
            assert!(chunks.len() >= 2, "seed {seed}");
        }
    }

    #[test]
    fn random_messages_split_soundly_at_a_small_limit() {
        let small = Limited {
            inner: TelegramHtml,
            limit: 64,
        };
        for seed in 100..110 {
            assert_sound(&random_text(&mut Rng(seed), 3_000), &small);
        }
    }

    #[test]
    fn render_truncated_returns_text_that_fits_unchanged() {
        let text = RichText::new().text("a & b").code_block("c");
        assert_eq!(
            render_truncated(&text, &TelegramHtml),
            render(&text, &TelegramHtml)
        );
    }

    #[test]
    fn render_truncated_keeps_whole_lines_and_ends_with_an_ellipsis() {
        let out = render_truncated(&lines_of(100, 99), &TelegramHtml);
        assert!(utf16(&out) <= 4096);
        let (kept, last) = out.rsplit_once('\n').expect("an ellipsis line");
        assert_eq!(last, "…");
        assert_eq!(kept.split('\n').count(), 40);
        assert!(kept.split('\n').all(|l| l.len() == 99));
    }

    #[test]
    fn render_truncated_cuts_a_single_huge_line() {
        let out = render_truncated(&RichText::new().bold("b".repeat(9000)), &TelegramHtml);
        assert!(utf16(&out) <= 4096);
        assert!(out.starts_with("<b>") && out.ends_with("</b>\n…"));
    }

    #[test]
    fn rich_text_survives_a_serde_round_trip() {
        let text = RichText::new()
            .text("a <&> @x")
            .bold(FAMILY)
            .newline()
            .italic("i")
            .code("c")
            .code_block("fn main() {}\n");
        let json = serde_json::to_string(&text).expect("serialise");
        assert!(json.contains(r#"{"bold":"#), "{json}");
        let back: RichText = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, text);
    }

    /// xorshift64: deterministic inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    fn phrase(rng: &mut Rng, max_words: usize) -> String {
        const WORDS: [&str; 14] = [
            "deploy",
            "a&b",
            "<tag>",
            "@everyone",
            "@",
            "x>y",
            FAMILY,
            FLAG,
            E_ACUTE,
            "😀",
            "pod-7f9c",
            "_",
            "&amp;",
            "ünïcödé",
        ];
        let sep = if rng.below(4) == 0 { "" } else { " " };
        let count = rng.below(max_words + 1);
        let words: Vec<&str> = (0..count).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        words.join(sep)
    }

    fn random_text(rng: &mut Rng, min_chars: usize) -> RichText {
        let mut text = RichText::new();
        while text.plain().chars().count() < min_chars {
            text = match rng.below(9) {
                0 | 1 => text.text(phrase(rng, 12)),
                2 => text.bold(phrase(rng, 8)),
                3 => text.italic(phrase(rng, 8)),
                4 => text.code(phrase(rng, 4)),
                5 => text.newline(),
                6 => text.text(phrase(rng, 1500)),
                7 => {
                    let lines: Vec<String> = (0..rng.below(300)).map(|_| phrase(rng, 10)).collect();
                    text.code_block(lines.join("\n"))
                }
                _ => text.code_block(phrase(rng, 1200)),
            };
        }
        text
    }

    #[test]
    fn durations_read_like_people_say_them() {
        use chrono::Duration;
        assert_eq!(human_duration(Duration::seconds(45)), "45 s");
        assert_eq!(human_duration(Duration::seconds(12 * 60 + 5)), "12 min");
        assert_eq!(human_duration(Duration::seconds(7200)), "2 h");
        assert_eq!(human_duration(Duration::seconds(7500)), "2 h 5 min");
    }
}
