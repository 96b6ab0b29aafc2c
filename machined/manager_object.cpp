// The API: docs/dbus-api.md, "org.freedesktop.machine1.Manager".
// org.freedesktop.machine1.Manager as systemd 252 has it (see machine1-api.md).
#include <fcntl.h>

#include <cstdint>
#include <limits>

#include "common/fd.hpp"
#include "images/btrfs_quota.hpp"

#include "machined/bus_error.hpp"
#include "machined/bus_path.hpp"
#include "machined/daemon.hpp"
#include "machined/image_operations.hpp"
#include "machined/file_methods.hpp"
#include "machined/image_objects.hpp"
#include "machined/objects.hpp"
#include "machined/operations.hpp"
#include "machined/root_directory.hpp"
#include "machined/sd_bus_object.hpp"
#include "machined/shell_methods.hpp"

namespace berth::machined {

namespace {

int reply_path(sd_bus_message* call, const std::string& name) {
    return sd_bus_reply_method_return(call, "o", machine_object_path(name).c_str());
}

const char* missing_mapping(bool group) { return group ? kNoSuchGroupMapping : kNoSuchUserMapping; }

int method_get_machine(sd_bus_message* call, Daemon& d) { return reply_path(call, d.require(read_string(call)).name); }

int method_get_machine_by_pid(sd_bus_message* call, Daemon& d) {
    uint32_t pid = 0;
    read(call, "u", &pid);
    if (pid > static_cast<uint32_t>(std::numeric_limits<pid_t>::max()))
        throw_bus_error(kInvalidArgs, fmt::format("Invalid PID {}", pid));
    pid_t p = pid == 0 ? d.caller_of(call).pid : static_cast<pid_t>(pid);
    return reply_path(call, d.require_by_pid(p).name);
}

int method_list_machines(sd_bus_message* call, Daemon& d) {
    // Straight into the reply (no copy of the list first): this is the call clients poll.
    Reply reply(call);
    append_each(reply.get(), "(ssso)", d.registry().all(), [&](const Machine* m) {
        append(reply.get(), "(ssso)", m->name.c_str(), m->klass.c_str(), m->service.c_str(),
               machine_object_path(m->name).c_str());
    });
    return reply.send();
}

RegistrationRequest read_registration(sd_bus_message* call, bool with_network) {
    RegistrationRequest req;
    req.name = read_string(call);
    req.id = read_array<uint8_t>(call, 'y');
    const char *service = nullptr, *klass = nullptr, *root_directory = nullptr;
    read(call, "ssus", &service, &klass, &req.leader, &root_directory);
    req.service = service;
    req.klass = klass;
    req.root_directory = root_directory;
    if (with_network) req.ifindices = read_array<int32_t>(call, 'i');
    return req;
}

// RegisterMachine, RegisterMachineWithNetwork, CreateMachine, CreateMachineWithNetwork.
template <bool Network, bool Create>
int method_register(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    auto req = read_registration(call, Network);
    // Create's unit properties: there is no unit without systemd.
    if (Create) check(sd_bus_message_skip(call, "a(sv)"), "read the arguments");
    Caller caller = d.caller_of(call);
    return reply_path(call, d.register_machine(req, caller, Create).name);
}

int method_unregister(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    Machine& m = d.require(read_string(call));
    if (m.is_host()) throw_bus_error(kInvalidArgs, "The host cannot be unregistered");
    d.unregister_machine(m.name);
    return reply_empty(call);
}

int method_terminate(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    d.terminate_machine(read_string(call));
    return reply_empty(call);
}

int method_kill(sd_bus_message* call, Daemon& d) {
    d.authorize(call);
    const char *name = nullptr, *who = nullptr;
    int32_t sig = 0;
    read(call, "ssi", &name, &who, &sig);
    ok_or_throw(kill_machine(d.require(name), who, sig));
    return reply_empty(call);
}

int method_get_addresses(sd_bus_message* call, Daemon& d) { return reply_addresses(call, d.require(read_string(call))); }
int method_get_os_release(sd_bus_message* call, Daemon& d) { return reply_os_release(call, d.require(read_string(call))); }
int method_get_uid_shift(sd_bus_message* call, Daemon& d) { return reply_uid_shift(call, d.require(read_string(call))); }
int method_open_root_directory(sd_bus_message* call, Daemon& d) {
    return reply_root_directory(call, d, d.require(read_string(call)));
}

int method_get_image(sd_bus_message* call, Daemon& d) {
    auto img = d.require_image(read_string(call));
    return sd_bus_reply_method_return(call, "o", image_object_path(img.name).c_str());
}

int method_list_images(sd_bus_message* call, Daemon& d) {
    Reply reply(call);
    append_each(reply.get(), "(ssbttto)", d.list_images(), [&](const images::Image& img) {
        append(reply.get(), "(ssbttto)", img.name.c_str(), images::type_name(img.type), static_cast<int>(img.read_only),
               img.crtime_usec, img.mtime_usec, img.usage, image_object_path(img.name).c_str());
    });
    return reply.send();
}

int method_remove_image(sd_bus_message* call, Daemon& d) {
    return reply_remove_image(call, d, d.require_image(read_string(call)));
}

int method_set_image_limit(sd_bus_message* call, Daemon& d) {
    const char* name = nullptr;
    uint64_t limit = 0;
    read(call, "st", &name, &limit);
    return reply_set_image_limit(call, d, d.require_image(name), limit);
}

int method_set_pool_limit(sd_bus_message* call, Daemon& d) {
    uint64_t limit = 0;
    read(call, "t", &limit);
    return reply_set_pool_limit(call, d, limit);
}

int method_clean_pool(sd_bus_message* call, Daemon& d) {
    return reply_clean_pool(call, d, read_string(call));
}

int method_rename_image(sd_bus_message* call, Daemon& d) {
    const char *name = nullptr, *new_name = nullptr;
    read(call, "ss", &name, &new_name);
    return reply_rename_image(call, d, d.require_image(name), new_name);
}

int method_clone_image(sd_bus_message* call, Daemon& d) {
    const char *name = nullptr, *new_name = nullptr;
    int read_only = 0;
    read(call, "ssb", &name, &new_name, &read_only);
    return reply_clone_image(call, d, d.require_image(name), new_name, read_only != 0);
}

int method_mark_image_read_only(sd_bus_message* call, Daemon& d) {
    const char* name = nullptr;
    int read_only = 0;
    read(call, "sb", &name, &read_only);
    return reply_mark_image_read_only(call, d, d.require_image(name), read_only != 0);
}

// GetImageHostname, GetImageMachineID, GetImageMachineInfo, GetImageOSRelease. As systemd 252 (unlike
// GetImage, which answers it as any unknown name): a name no image can have is InvalidArgs.
int method_image_file(sd_bus_message* call, Daemon& d) {
    std::string name = read_string(call);
    if (name != images::kHostImage && !images::image_name_valid(name))
        throw_bus_error(kInvalidArgs, fmt::format("Image name '{}' is invalid.", name));
    return reply_image_file(call, d, d.require_image(name));
}

template <bool Group>
int method_map_from(sd_bus_message* call, Daemon& d) {
    const char* name = nullptr;
    uint32_t inner = 0;
    read(call, "su", &name, &inner);
    auto r = map_from_machine(d.require(name), inner, Group);
    if (!r.ok())
        throw_bus_error(r.error().code == ENOENT ? missing_mapping(Group) : bus_error_name(r.error().code),
                        r.error().message);
    return sd_bus_reply_method_return(call, "u", *r);
}

template <bool Group>
int method_map_to(sd_bus_message* call, Daemon& d) {
    uint32_t outer = 0;
    read(call, "u", &outer);
    for (auto* m : d.registry().all()) {
        if (m->is_host()) continue;
        auto r = map_to_machine(*m, outer, Group);
        if (r.ok())
            return sd_bus_reply_method_return(call, "sou", m->name.c_str(), machine_object_path(m->name).c_str(), *r);
    }
    throw_bus_error(missing_mapping(Group), fmt::format("No matching {} mapping for {}", Group ? "group" : "user", outer));
}

// OpenMachinePTY, OpenMachineLogin, OpenMachineShell, BindMountMachine, CopyFromMachine, CopyToMachine
// (+WithFlags): the machine's own method on the machine named first.
template <int (*Reply)(sd_bus_message*, Daemon&, Machine&)>
int method_on_machine(sd_bus_message* call, Daemon& d) {
    return Reply(call, d, d.require(read_string(call)));
}

int prop_pool_path(sd_bus_message* reply, sd_bus_message*, Daemon& d) {
    return sd_bus_message_append(reply, "s", d.config().pool.c_str());
}

// Usage and limit need quota support (btrfs subvolumes) that the pool does not have: unknown.
// From btrfs quota, where the pool has a limit (images/btrfs_quota.hpp); UINT64_MAX otherwise, as 252.
template <bool Limit>
int prop_pool_quota(sd_bus_message* reply, sd_bus_message*, Daemon& d) {
    uint64_t value = images::kUnknown;
    UniqueFd fd(::open(d.image_search_path().front().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK));
    if (fd)
        if (auto q = images::pool_quota(fd.get())) value = Limit ? q->referenced_max : q->referenced;
    return sd_bus_message_append(reply, "t", value);
}

}  // namespace

// Exactly as systemd 252 declares it (tests/data/systemd-252-machine1-manager.xml, checked by
// machined_introspect_test.cpp): member order, argument names, flags. Introspection shows those, and
// clients generated from it (gdbus-codegen, zbus, busctl --xml-interface) go by the names.
//
// sd-bus refuses a method without SD_BUS_VTABLE_UNPRIVILEGED to callers lacking CAP_SYS_ADMIN before the
// handler runs; the ones flagged unprivileged are decided by access.hpp per call (as polkit decides for
// systemd's). Of the methods 252 leaves privileged, only OpenMachinePTY is here (root: NotSupported,
// others: AccessDenied, as in 252). Register* and Create* stay unprivileged although 252's are not: the
// groups in allowed_groups may register machines (docs/machined.md), which sd-bus's check would refuse.
const sd_bus_vtable kManagerVtable[] = {
    SD_BUS_VTABLE_START(0),
    // Never change while machined runs: no PropertiesChanged, so "false" as in 252.
    SD_BUS_PROPERTY("PoolPath", "s", property<prop_pool_path>, 0, 0),
    SD_BUS_PROPERTY("PoolUsage", "t", property<prop_pool_quota<false>>, 0, 0),
    SD_BUS_PROPERTY("PoolLimit", "t", property<prop_pool_quota<true>>, 0, 0),
    SD_BUS_METHOD_WITH_ARGS("GetMachine", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", machine),
                            method<method_get_machine>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetImage", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", image), method<method_get_image>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetMachineByPID", SD_BUS_ARGS("u", pid), SD_BUS_RESULT("o", machine),
                            method<method_get_machine_by_pid>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListMachines", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssso)", machines),
                            method<method_list_machines>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListImages", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssbttto)", images), method<method_list_images>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CreateMachine",
                            SD_BUS_ARGS("s", name, "ay", id, "s", service, "s", class, "u", leader, "s",
                                        root_directory, "a(sv)", scope_properties),
                            SD_BUS_RESULT("o", path), (method<method_register<false, true>>),
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CreateMachineWithNetwork",
                            SD_BUS_ARGS("s", name, "ay", id, "s", service, "s", class, "u", leader, "s",
                                        root_directory, "ai", ifindices, "a(sv)", scope_properties),
                            SD_BUS_RESULT("o", path), (method<method_register<true, true>>),
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RegisterMachine",
                            SD_BUS_ARGS("s", name, "ay", id, "s", service, "s", class, "u", leader, "s",
                                        root_directory),
                            SD_BUS_RESULT("o", path), (method<method_register<false, false>>),
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RegisterMachineWithNetwork",
                            SD_BUS_ARGS("s", name, "ay", id, "s", service, "s", class, "u", leader, "s",
                                        root_directory, "ai", ifindices),
                            SD_BUS_RESULT("o", path), (method<method_register<true, false>>),
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("UnregisterMachine", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT,
                            method<method_unregister>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("TerminateMachine", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT, method<method_terminate>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("KillMachine", SD_BUS_ARGS("s", name, "s", who, "i", signal), SD_BUS_NO_RESULT,
                            method<method_kill>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetMachineAddresses", SD_BUS_ARGS("s", name), SD_BUS_RESULT("a(iay)", addresses),
                            method<method_get_addresses>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetMachineOSRelease", SD_BUS_ARGS("s", name), SD_BUS_RESULT("a{ss}", fields),
                            method<method_get_os_release>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenMachinePTY", SD_BUS_ARGS("s", name), SD_BUS_RESULT("h", pty, "s", pty_path),
                            method<method_on_machine<reply_open_pty>>, 0),
    SD_BUS_METHOD_WITH_ARGS("OpenMachineLogin", SD_BUS_ARGS("s", name), SD_BUS_RESULT("h", pty, "s", pty_path),
                            method<method_on_machine<reply_open_login>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenMachineShell",
                            SD_BUS_ARGS("s", name, "s", user, "s", path, "as", args, "as", environment),
                            SD_BUS_RESULT("h", pty, "s", pty_path), method<method_on_machine<reply_open_shell>>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("BindMountMachine",
                            SD_BUS_ARGS("s", name, "s", source, "s", destination, "b", read_only, "b", mkdir),
                            SD_BUS_NO_RESULT, method<method_on_machine<method_bind_mount>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyFromMachine", SD_BUS_ARGS("s", name, "s", source, "s", destination),
                            SD_BUS_NO_RESULT, method<method_on_machine<method_copy_files>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyToMachine", SD_BUS_ARGS("s", name, "s", source, "s", destination),
                            SD_BUS_NO_RESULT, method<method_on_machine<method_copy_files>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyFromMachineWithFlags",
                            SD_BUS_ARGS("s", name, "s", source, "s", destination, "t", flags), SD_BUS_NO_RESULT,
                            method<method_on_machine<method_copy_files>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CopyToMachineWithFlags",
                            SD_BUS_ARGS("s", name, "s", source, "s", destination, "t", flags), SD_BUS_NO_RESULT,
                            method<method_on_machine<method_copy_files>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("OpenMachineRootDirectory", SD_BUS_ARGS("s", name), SD_BUS_RESULT("h", fd),
                            method<method_open_root_directory>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetMachineUIDShift", SD_BUS_ARGS("s", name), SD_BUS_RESULT("u", shift),
                            method<method_get_uid_shift>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RemoveImage", SD_BUS_ARGS("s", name), SD_BUS_NO_RESULT, method<method_remove_image>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RenameImage", SD_BUS_ARGS("s", name, "s", new_name), SD_BUS_NO_RESULT,
                            method<method_rename_image>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CloneImage", SD_BUS_ARGS("s", name, "s", new_name, "b", read_only), SD_BUS_NO_RESULT,
                            method<method_clone_image>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("MarkImageReadOnly", SD_BUS_ARGS("s", name, "b", read_only), SD_BUS_NO_RESULT,
                            method<method_mark_image_read_only>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetImageHostname", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", hostname),
                            method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetImageMachineID", SD_BUS_ARGS("s", name), SD_BUS_RESULT("ay", id),
                            method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetImageMachineInfo", SD_BUS_ARGS("s", name), SD_BUS_RESULT("a{ss}", machine_info),
                            method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("GetImageOSRelease", SD_BUS_ARGS("s", name), SD_BUS_RESULT("a{ss}", os_release),
                            method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("SetPoolLimit", SD_BUS_ARGS("t", size), SD_BUS_NO_RESULT, method<method_set_pool_limit>,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("SetImageLimit", SD_BUS_ARGS("s", name, "t", size), SD_BUS_NO_RESULT,
                            method<method_set_image_limit>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("CleanPool", SD_BUS_ARGS("s", mode), SD_BUS_RESULT("a(st)", images),
                            method<method_clean_pool>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("MapFromMachineUser", SD_BUS_ARGS("s", name, "u", uid_inner),
                            SD_BUS_RESULT("u", uid_outer), method<method_map_from<false>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("MapToMachineUser", SD_BUS_ARGS("u", uid_outer),
                            SD_BUS_RESULT("s", machine_name, "o", machine_path, "u", uid_inner),
                            method<method_map_to<false>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("MapFromMachineGroup", SD_BUS_ARGS("s", name, "u", gid_inner),
                            SD_BUS_RESULT("u", gid_outer), method<method_map_from<true>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("MapToMachineGroup", SD_BUS_ARGS("u", gid_outer),
                            SD_BUS_RESULT("s", machine_name, "o", machine_path, "u", gid_inner),
                            method<method_map_to<true>>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("MachineNew", SD_BUS_ARGS("s", machine, "o", path), 0),
    SD_BUS_SIGNAL_WITH_ARGS("MachineRemoved", SD_BUS_ARGS("s", machine, "o", path), 0),
    SD_BUS_VTABLE_END,
};

}  // namespace berth::machined
