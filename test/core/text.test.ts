import { describe, expect, it } from "vitest";
import { safeLine, safeText } from "../../src/core/text.js";

describe("text from outside", () => {
  it.each([
    ["plain text stays", "Add a widget", "Add a widget", "Add a widget"],
    ["NUL", "al\u0000ice", "alice", "alice"],
    ["an ESC sequence loses its ESC", "\u001b[31mred\u001b[0m", "[31mred[0m", "[31mred[0m"],
    ["C1 NEL (U+0085) and CSI (U+009B)", "a\u0085b\u009bc", "abc", "abc"],
    ["DEL, bell, backspace, form feed, vertical tab", "a\u007fb\u0007c\u0008d\u000ce\u000bf", "abcdef", "abcdef"],
    ["bidi overrides and isolates", "admin\u202e\u2066txt.exe\u2069\u202c", "admintxt.exe", "admintxt.exe"],
    ["marks LRM, RLM and ALM", "a\u200eb\u200fc\u061cd", "abcd", "abcd"],
    ["line breaks in every spelling", "a\r\nb\rc\nd\u2028e\u2029f", "a\nb\nc\nd\ne\nf", "a  b c d e f"],
    ["tabs", "a\tb", "a\tb", "a b"],
    ["letters of other scripts and emoji stay", "名前 ñ 🚀 عربى", "名前 ñ 🚀 عربى", "名前 ñ 🚀 عربى"],
  ])("%s", (_name, input, text, line) => {
    expect(safeText(input)).toBe(text);
    expect(safeLine(input)).toBe(line);
  });
});
