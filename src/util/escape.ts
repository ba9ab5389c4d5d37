/**
 * Text from a user's file or flag, made safe to print on one terminal line:
 * control characters (C0 including newline and tab, DEL, C1 such as the
 * 8-bit CSI) and the bidirectional-override characters are shown as escapes
 * (ESC as "\x1b") instead of reaching the terminal.
 */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    const n = c.codePointAt(0)!;
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}
