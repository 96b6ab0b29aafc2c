// The table of verbs: name, argument counts, and the function that runs it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "machinectl/options.hpp"
#include "machinectl/properties.hpp"

namespace berth::machinectl {

class Bus;

struct Verb {
    const char* name;
    size_t min_args;
    size_t max_args;  // SIZE_MAX: any number
    bool names;       // arguments are machine names (all of them, or the first one for set-property)
    Status (*run)(Bus& bus, const Options& o);
    Result<int> (*run_for_status)(Bus& bus, const Options& o) = nullptr;  // instead of run: the exit status
};

// What show and show-image print of each object: KEY=VALUE blocks (-p, --value, -a) separated by an
// empty line, or JSON with -o json*.
class ShowPrinter {
public:
    explicit ShowPrinter(const Options& o) : o_(o) {}
    void emit(const std::vector<Property>& props);

private:
    const Options& o_;
    bool first_ = true;
};

// nullptr when there is no such verb.
const Verb* find_verb(std::string_view name);

// verbs_machine.cpp
Status verb_list(Bus& bus, const Options& o);
Status verb_status(Bus& bus, const Options& o);
Status verb_show(Bus& bus, const Options& o);
Status verb_poweroff(Bus& bus, const Options& o);
Status verb_reboot(Bus& bus, const Options& o);
Status verb_terminate(Bus& bus, const Options& o);
Status verb_kill(Bus& bus, const Options& o);

// verbs_berth.cpp
Status verb_start(Bus& bus, const Options& o);
Status verb_enable(Bus& bus, const Options& o);
Status verb_disable(Bus& bus, const Options& o);
Status verb_freeze(Bus& bus, const Options& o);
Status verb_thaw(Bus& bus, const Options& o);
Status verb_set_property(Bus& bus, const Options& o);

// verbs_shell.cpp
Status verb_login(Bus& bus, const Options& o);
Result<int> verb_shell(Bus& bus, const Options& o);  // the command's exit status
// verbs_image.cpp
Status verb_list_images(Bus& bus, const Options& o);
Status verb_image_status(Bus& bus, const Options& o);
Status verb_show_image(Bus& bus, const Options& o);
Status verb_clone(Bus& bus, const Options& o);
Status verb_rename(Bus& bus, const Options& o);
Status verb_read_only(Bus& bus, const Options& o);
Status verb_remove(Bus& bus, const Options& o);
Status verb_set_limit(Bus& bus, const Options& o);
Status verb_clean(Bus& bus, const Options& o);
// verbs_transfer.cpp
Status verb_import_tar(Bus& bus, const Options& o);
Status verb_import_raw(Bus& bus, const Options& o);
Status verb_import_fs(Bus& bus, const Options& o);
Status verb_export(Bus& bus, const Options& o);  // export-tar, export-raw
Status verb_pull(Bus& bus, const Options& o);    // pull-tar, pull-raw
Status verb_list_transfers(Bus& bus, const Options& o);
Status verb_cancel_transfer(Bus& bus, const Options& o);
// verbs_copy.cpp
Status verb_bind(Bus& bus, const Options& o);
Status verb_copy(Bus& bus, const Options& o);  // copy-to, copy-from

}  // namespace berth::machinectl
