/**
 * tree-sitter grammar for nginx configuration files.
 *
 * It follows nginx's own tokenizer (ngx_conf_read_token in
 * src/core/ngx_conf_file.c) instead of a list of known directives:
 *
 * - a directive is one or more words ended by `;`, or followed by a block;
 * - a word is bare, "double quoted" or 'single quoted'; backslash escapes the
 *   next character everywhere; `$var` and `${var}` may appear inside words;
 * - a bare word ends only at whitespace, `;` or `{` (a `{` right after `$`
 *   belongs to the word), so `a#b`, `a}b` and `a"b` are single words;
 * - `#` starts a comment only where a new word could start;
 * - the bodies of `*_by_lua_block` directives are Lua, scanned by the
 *   external scanner in src/scanner.c.
 *
 * Two rules of nginx's tokenizer cannot be said with context-free tokens and
 * are checked by upkeep after parsing (src/parse.rs): a quoted word must be
 * followed by whitespace, `;`, `{` or `)`, and a file must not start with a
 * UTF-8 byte-order mark.
 *
 * @license MIT
 */

// nginx treats exactly these four bytes as whitespace.
const WHITESPACE = /[ \t\r\n]/;

module.exports = grammar({
  name: 'nginx',

  externals: $ => [
    $._lua_block_name,
    $.lua_code,
  ],

  extras: $ => [WHITESPACE, $.comment],

  rules: {
    source_file: $ => repeat($._statement),

    _statement: $ => choice($.directive, $.lua_block_directive),

    directive: $ => seq(
      field('name', $._value),
      repeat(field('argument', $._value)),
      choice(';', field('block', $.block)),
    ),

    // `content_by_lua_block { ... }` and friends: the body is Lua source.
    lua_block_directive: $ => seq(
      field('name', alias($._lua_block_name, $.word)),
      repeat(field('argument', $._value)),
      field('block', $.lua_block),
    ),

    block: $ => seq('{', repeat($._statement), '}'),

    lua_block: $ => seq('{', optional($.lua_code), '}'),

    _value: $ => choice($.word, $.string),

    // A bare word. First character: anything but whitespace and the
    // characters that start something else (`;{}"'#`). Later characters:
    // anything but whitespace, `;` and `{`. A backslash takes the next
    // character literally; `${` keeps the brace inside the word.
    word: _ => token(seq(
      choice(/[^ \t\r\n;{}"'#\\$]/, /\\[\s\S]/, /\$\{?/),
      repeat(choice(/[^ \t\r\n;{\\$]/, /\\[\s\S]/, /\$\{?/)),
    )),

    string: _ => choice(
      token(seq('"', repeat(choice(/[^"\\]/, /\\[\s\S]/)), '"')),
      token(seq('\'', repeat(choice(/[^'\\]/, /\\[\s\S]/)), '\'')),
    ),

    // nginx ends a comment only at LF; a lone CR inside it is comment text
    // (in a CRLF file the CR before the LF belongs to the comment).
    comment: _ => token(seq('#', /[^\n]*/)),
  },
});
