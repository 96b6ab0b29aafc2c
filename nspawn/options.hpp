// nspawn's options: one table (options.cpp), one entry per option with its flags, its settings key (the
// long name; older keys as aliases), its help text, whether it is privileged, and a typed parser that
// writes into the plan. The command line (parse_command_line) and the settings files (settings.cpp) only
// record what was said, each value in its own type; make_plan runs the entries' parsers over the record
// and then checks what depends on several options or on the image.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/values.hpp"
#include "nspawn/plan.hpp"

namespace berth::nspawn {

struct OptionSpec;
// Parses one value of the option `spec` into the plan being built; errors name the option (spec.label()).
using OptionParser = Status (*)(const OptionSpec& spec, const OptionValue& value, PlanDraft& draft);

enum class OptionKind {
    Flag,   // no value on the command line (true); a boolean in settings
    Value,  // one value; given again, the last one counts
    List,   // any number of values, in order; an array of strings in settings
};

// The TOML types a settings key takes (a command-line value is always text, or true for a flag).
enum TomlTypes : unsigned { kBool = 1, kInteger = 2, kFloat = 4, kString = 8, kNumber = kInteger | kFloat };

struct OptionSpec {
    std::string_view name;     // the long name, and the settings key: "chdir" for --chdir
    std::string_view flags;    // for the command line: "-D,--directory"; "" for a settings-only key
    std::string_view section;  // the settings section ("exec", "files", "resources", "network"); "" = none
    std::string_view aliases;  // other settings keys for it, space-separated ("working_directory")
    std::string_view arg;      // the value's name in the help text ("PATH")
    std::string_view help;
    std::string_view group;    // the help text's heading: "" for the first, "Isolation", "Resources", "Network"
    OptionKind kind;
    bool privileged;           // exposes the host: ignored in untrusted settings files
    unsigned types;            // TomlTypes a settings file may give (a List: strings)
    OptionParser parse;        // nullptr: read by make_plan itself (where and who, --settings)

    std::string label() const { return "--" + std::string(name); }
};

// Every option, in the order make_plan applies them (and the help text lists them).
std::span<const OptionSpec> option_table();
// The option of that long name or settings key ('_' and '-' alike), or nullptr.
const OptionSpec* find_option(std::string_view name);

// What the command line and the settings files said, before any of it is parsed: each option's values
// by long name, in the type they came in (text from the command line, the TOML type from a settings file;
// a yes/no option's text is read as a boolean on the way in).
class Options {
public:
    bool help = false;
    bool version = false;

    bool has(std::string_view name) const { return values_.count(std::string(name)) > 0; }
    // A Value or Flag option: replaces what was said before. A List option: appends.
    void set(std::string_view name, OptionValue v);
    void set(std::string_view name, const char* v) { set(name, OptionValue(std::string(v))); }
    // A List option's values all at once (replacing).
    void set_list(std::string_view name, const std::vector<std::string>& values);
    const std::vector<OptionValue>* values(std::string_view name) const;

    // For tests and messages: the last value as text / as a boolean, the list as texts.
    std::optional<std::string> text(std::string_view name) const;
    std::optional<bool> flag(std::string_view name) const;
    std::optional<std::vector<std::string>> texts(std::string_view name) const;

private:
    std::map<std::string, std::vector<OptionValue>, std::less<>> values_;
};

Result<Options> parse_command_line(int argc, char** argv);
// Every option `o` says, through its entry's parser, in the table's order (make_plan's first step once
// the settings are in).
Status parse_options(const Options& o, PlanDraft& draft);
std::string help_text();

// The parsers of make_plan's pieces, run on their own (tests): the privileges and resources options of
// `o`, as make_plan would parse them.
Result<Privileges> parse_privileges(const Options& o, bool private_network);
Result<Resources> parse_resources(const Options& o);

}  // namespace berth::nspawn
