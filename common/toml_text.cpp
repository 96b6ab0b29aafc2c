#include "common/toml_text.hpp"

#include "common/escape.hpp"

namespace berth {

namespace {

// The characters toml++ 3.3 cannot classify (see the header).
bool breaks_toml(uint32_t cp) { return (cp >= 0xa1 && cp <= 0x499) || (cp >= 0xfbe6 && cp <= 0xfefe); }

// The code point of the well-formed UTF-8 sequence at s[i] (checked beforehand) and its length.
uint32_t decode(std::string_view s, size_t i, size_t& len) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    if (b(0) < 0x80) return len = 1, b(0);
    if (b(0) < 0xe0) return len = 2, ((b(0) & 0x1fu) << 6) | (b(1) & 0x3fu);
    if (b(0) < 0xf0) return len = 3, ((b(0) & 0x0fu) << 12) | ((b(1) & 0x3fu) << 6) | (b(2) & 0x3fu);
    return len = 4, ((b(0) & 0x07u) << 18) | ((b(1) & 0x3fu) << 12) | ((b(2) & 0x3fu) << 6) | (b(3) & 0x3fu);
}

}  // namespace

Result<std::string> guard_toml_text(std::string_view text, const std::string& what) {
    if (to_valid_utf8(text) != text) return plain_error(fmt::format("Invalid {}: not valid UTF-8", what), EINVAL);
    enum class In { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral } in = In::Code;
    size_t line = 1;
    // Where a string may start: at the start of a line or after one of these (a key, a value, an array
    // element, an inline table's key). A quote anywhere else is inside a bare token.
    char prev = '\n';
    std::string out;
    out.reserve(text.size());
    auto refuse = [&](const char* why) {
        return plain_error(fmt::format("Invalid {} at line {}: {}", what, line, why), EINVAL);
    };
    // Past the end of a multi-line string: up to two more quotes belong to its content ("""a""""").
    auto close_multi = [&](size_t& i, char q) {
        size_t j = i + 3;
        while (j < text.size() && text[j] == q && j < i + 5) j++;
        out.append(text.substr(i, j - i));
        i = j;
        in = In::Code;
        prev = q;
    };
    for (size_t i = 0; i < text.size();) {
        size_t len = 1;
        uint32_t cp = decode(text, i, len);
        char c = text[i];
        auto starts = [&](std::string_view s) { return text.substr(i, s.size()) == s; };
        if (cp >= 0x80) {
            bool escapable = in == In::Basic || in == In::MultiBasic;
            if (in == In::Code) return refuse("a non-ASCII character outside a string or comment");
            if (breaks_toml(cp) && !escapable && in != In::Comment)
                return refuse(fmt::format("U+{:04X} in a 'literal' string: write it as \\u{:04X} in a \"basic\" string",
                                          cp, cp)
                                  .c_str());
            if (breaks_toml(cp) && escapable) out += fmt::format("\\u{:04X}", cp);
            else if (breaks_toml(cp)) out += ' ';  // in a comment: what it says does not matter
            else out.append(text.substr(i, len));
            i += len;
            continue;
        }
        if (c == '\n') {
            line++;
            // A comment ends with its line, and so does a single-line string (unterminated: toml++ says so).
            if (in == In::Comment || in == In::Basic || in == In::Literal) in = In::Code;
            if (in == In::Code) prev = '\n';
            out += c;
            i++;
            continue;
        }
        switch (in) {
            case In::Code: {
                bool may_open = std::string_view("\n=[,{.").find(prev) != std::string_view::npos;
                if (c == '#') {
                    in = In::Comment;
                } else if (may_open && starts("\"\"\"")) {
                    in = In::MultiBasic;
                    out.append("\"\"\"");
                    i += 3;
                    continue;
                } else if (may_open && starts("'''")) {
                    in = In::MultiLiteral;
                    out.append("'''");
                    i += 3;
                    continue;
                } else if (may_open && c == '"') {
                    in = In::Basic;
                } else if (may_open && c == '\'') {
                    in = In::Literal;
                } else if (c != ' ' && c != '\t' && c != '\r') {
                    prev = c;
                }
                break;
            }
            case In::Comment: break;
            case In::Basic:
            case In::MultiBasic:
                if (c == '\\' && i + 1 < text.size()) {
                    // An escape is ASCII; a backslash before anything else is toml++'s error to report.
                    if (static_cast<unsigned char>(text[i + 1]) >= 0x80)
                        return refuse("a backslash before a non-ASCII character");
                    if (text[i + 1] != '\n') {
                        out.append(text.substr(i, 2));
                        i += 2;
                        continue;
                    }
                } else if (in == In::Basic && c == '"') {
                    in = In::Code;
                    prev = c;
                } else if (in == In::MultiBasic && starts("\"\"\"")) {
                    close_multi(i, '"');
                    continue;
                }
                break;
            case In::Literal:
                if (c == '\'') {
                    in = In::Code;
                    prev = c;
                }
                break;
            case In::MultiLiteral:
                if (starts("'''")) {
                    close_multi(i, '\'');
                    continue;
                }
                break;
        }
        out += c;
        i++;
    }
    return out;
}

}  // namespace berth
