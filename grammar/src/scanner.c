// External scanner for the nginx grammar.
//
// It produces two tokens that a context-free lexer cannot:
//
// _lua_block_name  a directive name ending in "_by_lua_block" (the
//                  lua-nginx-module directives whose block is Lua source).
//                  Only the whole word counts: "x_by_lua_blocks" is an
//                  ordinary word and is left to the grammar's lexer.
// lua_code         the Lua source between the block's braces, up to (not
//                  including) the brace that closes the block. Braces inside
//                  Lua strings, long strings ([[ ]], [==[ ]==]) and comments
//                  do not count.
//
// The scanner keeps no state between calls.

#include "tree_sitter/parser.h"

#include <stdbool.h>
#include <string.h>

enum TokenType { LUA_BLOCK_NAME, LUA_CODE };

void *tree_sitter_nginx_external_scanner_create(void) { return NULL; }
void tree_sitter_nginx_external_scanner_destroy(void *payload) { (void)payload; }
unsigned tree_sitter_nginx_external_scanner_serialize(void *payload, char *buffer) {
  (void)payload;
  (void)buffer;
  return 0;
}
void tree_sitter_nginx_external_scanner_deserialize(void *payload, const char *buffer,
                                                     unsigned length) {
  (void)payload;
  (void)buffer;
  (void)length;
}

static bool is_nginx_space(int32_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Characters that end a bare word in nginx's tokenizer.
static bool ends_word(int32_t c) { return is_nginx_space(c) || c == ';' || c == '{' || c == 0; }

static bool scan_lua_block_name(TSLexer *lexer) {
  static const char suffix[] = "_by_lua_block";
  const size_t suffix_len = sizeof(suffix) - 1;
  char tail[sizeof(suffix)] = {0};
  size_t len = 0;

  // nginx strips the quotes of every word, so the lua module also sees
  // "rewrite_by_lua_block" written in quotes as its directive.
  int32_t quote = 0;
  if (lexer->lookahead == '"' || lexer->lookahead == '\'') {
    quote = lexer->lookahead;
    lexer->advance(lexer, false);
  }

  while (!lexer->eof(lexer) && (quote ? lexer->lookahead != quote : !ends_word(lexer->lookahead))) {
    int32_t c = lexer->lookahead;
    // Directive names are plain ASCII identifiers; anything else is an
    // ordinary word and belongs to the grammar's own lexer.
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
    // Keep the last suffix_len characters to compare with the suffix.
    if (len < suffix_len) {
      tail[len] = (char)c;
    } else {
      memmove(tail, tail + 1, suffix_len - 1);
      tail[suffix_len - 1] = (char)c;
    }
    len++;
    lexer->advance(lexer, false);
  }
  if (quote) {
    if (lexer->lookahead != quote) return false;
    lexer->advance(lexer, false);
  }
  if (len <= suffix_len || memcmp(tail, suffix, suffix_len) != 0) return false;
  lexer->mark_end(lexer);
  lexer->result_symbol = LUA_BLOCK_NAME;
  return true;
}

// After "[" has been consumed: counts '=' and expects a second '['.
// Returns the level (number of '='), or -1 when this is not a long bracket.
static int scan_long_bracket_open(TSLexer *lexer) {
  int level = 0;
  while (lexer->lookahead == '=') {
    level++;
    lexer->advance(lexer, false);
  }
  if (lexer->lookahead != '[') return -1;
  lexer->advance(lexer, false);
  return level;
}

// Consumes a long string or comment body up to and including "]=*]" of the
// given level. Returns false at end of input.
static bool skip_long_bracket_body(TSLexer *lexer, int level) {
  while (!lexer->eof(lexer)) {
    if (lexer->lookahead == ']') {
      lexer->advance(lexer, false);
      int seen = 0;
      while (lexer->lookahead == '=') {
        seen++;
        lexer->advance(lexer, false);
      }
      if (seen == level && lexer->lookahead == ']') {
        lexer->advance(lexer, false);
        return true;
      }
      continue;
    }
    lexer->advance(lexer, false);
  }
  return false;
}

static bool scan_lua_code(TSLexer *lexer) {
  int depth = 0;
  bool any = false;
  for (;;) {
    lexer->mark_end(lexer);
    if (lexer->eof(lexer)) return false;  // unterminated block: let the parser report it
    int32_t c = lexer->lookahead;
    if (c == '}') {
      if (depth == 0) break;
      depth--;
      lexer->advance(lexer, false);
    } else if (c == '{') {
      depth++;
      lexer->advance(lexer, false);
    } else if (c == '"' || c == '\'') {
      int32_t quote = c;
      lexer->advance(lexer, false);
      while (!lexer->eof(lexer) && lexer->lookahead != quote && lexer->lookahead != '\n') {
        if (lexer->lookahead == '\\') lexer->advance(lexer, false);
        if (!lexer->eof(lexer)) lexer->advance(lexer, false);
      }
      if (lexer->lookahead == quote) lexer->advance(lexer, false);
    } else if (c == '[') {
      lexer->advance(lexer, false);
      int level = scan_long_bracket_open(lexer);
      if (level >= 0 && !skip_long_bracket_body(lexer, level)) return false;
    } else if (c == '-') {
      lexer->advance(lexer, false);
      if (lexer->lookahead == '-') {
        lexer->advance(lexer, false);
        int level = -1;
        if (lexer->lookahead == '[') {
          lexer->advance(lexer, false);
          level = scan_long_bracket_open(lexer);
        }
        if (level >= 0) {
          if (!skip_long_bracket_body(lexer, level)) return false;
        } else {
          while (!lexer->eof(lexer) && lexer->lookahead != '\n') lexer->advance(lexer, false);
        }
      }
    } else {
      lexer->advance(lexer, false);
    }
    any = true;
  }
  if (!any) return false;
  lexer->result_symbol = LUA_CODE;
  return true;
}

bool tree_sitter_nginx_external_scanner_scan(void *payload, TSLexer *lexer,
                                             const bool *valid_symbols) {
  (void)payload;
  // During error recovery every symbol is valid; do not guess then.
  if (valid_symbols[LUA_BLOCK_NAME] && valid_symbols[LUA_CODE]) return false;

  if (valid_symbols[LUA_CODE]) return scan_lua_code(lexer);

  if (valid_symbols[LUA_BLOCK_NAME]) {
    while (is_nginx_space(lexer->lookahead)) lexer->advance(lexer, true);
    return scan_lua_block_name(lexer);
  }
  return false;
}
