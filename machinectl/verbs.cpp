#include "machinectl/verbs.hpp"

#include <cstdint>

namespace berth::machinectl {

namespace {
constexpr size_t kAny = SIZE_MAX;
constexpr Verb kVerbs[] = {
    {"list", 0, 0, false, verb_list},
    {"status", 1, kAny, true, verb_status},
    {"show", 0, kAny, true, verb_show},
    {"start", 1, kAny, true, verb_start},
    {"stop", 1, kAny, true, verb_poweroff},
    {"poweroff", 1, kAny, true, verb_poweroff},
    {"reboot", 1, kAny, true, verb_reboot},
    {"terminate", 1, kAny, true, verb_terminate},
    {"kill", 1, kAny, true, verb_kill},
    {"enable", 1, kAny, true, verb_enable},
    {"disable", 1, kAny, true, verb_disable},
    {"freeze", 1, kAny, true, verb_freeze},
    {"thaw", 1, kAny, true, verb_thaw},
    {"set-property", 2, kAny, true, verb_set_property},
    // Their first argument is checked by options.cpp: "" means the host, shell's has a USER@.
    {"login", 0, 1, false, verb_login},
    {"shell", 0, kAny, false, nullptr, verb_shell},
    {"bind", 2, 3, false, verb_bind},
    {"copy-to", 2, 3, false, verb_copy},
    {"copy-from", 2, 3, false, verb_copy},
    // Image names are no hostnames ("bad name" is an image): machined checks them.
    {"list-images", 0, 0, false, verb_list_images},
    {"image-status", 0, kAny, false, verb_image_status},
    {"show-image", 0, kAny, false, verb_show_image},
    {"clone", 2, 2, false, verb_clone},
    {"rename", 2, 2, false, verb_rename},
    {"read-only", 1, 2, false, verb_read_only},
    {"remove", 1, kAny, false, verb_remove},
    {"set-limit", 1, 2, false, verb_set_limit},
    {"clean", 0, 0, false, verb_clean},
    {"import-tar", 1, 2, false, verb_import_tar},
    {"import-raw", 1, 2, false, verb_import_raw},
    {"import-fs", 1, 2, false, verb_import_fs},
    {"export-tar", 1, 2, false, verb_export},
    {"export-raw", 1, 2, false, verb_export},
    {"pull-tar", 1, 2, false, verb_pull},
    {"pull-raw", 1, 2, false, verb_pull},
    {"list-transfers", 0, 0, false, verb_list_transfers},
    {"cancel-transfer", 1, kAny, false, verb_cancel_transfer},
};
}  // namespace

const Verb* find_verb(std::string_view name) {
    for (auto& v : kVerbs)
        if (name == v.name) return &v;
    return nullptr;
}

}  // namespace berth::machinectl
