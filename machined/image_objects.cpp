// The API: docs/dbus-api.md, "org.freedesktop.machine1.Image".
#include "machined/image_objects.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/fd.hpp"
#include "common/id128.hpp"
#include "images/image_files.hpp"
#include "machined/bus_error.hpp"
#include "machined/bus_path.hpp"
#include "machined/daemon.hpp"
#include "machined/forked_call.hpp"
#include "machined/image_operations.hpp"
#include "machined/objects.hpp"

namespace berth::machined {

namespace {

// A worker reading an image's files that has not answered by then is killed (SIGALRM): the files are the
// image's, and so may be whatever is mounted below its directory.
constexpr unsigned kFileWorkerTimeoutSec = 5;

Daemon& daemon_of(void* userdata) { return *static_cast<Daemon*>(userdata); }

// The image a vtable callback was found for, as it was on disk when its object path was looked up.
struct Found {
    Daemon* daemon = nullptr;
    images::Image image;
};
// As machine_objects.cpp's: one slot, refilled per lookup (single-threaded; the callbacks of a lookup run
// before the next lookup).
thread_local Found g_found;

enum class File { Hostname, MachineId, MachineInfo, OsRelease };

File file_of(std::string_view member) {
    if (member.ends_with("Hostname")) return File::Hostname;
    if (member.ends_with("MachineID")) return File::MachineId;
    if (member.ends_with("MachineInfo")) return File::MachineInfo;
    return File::OsRelease;
}

const char* file_what(File f) {
    switch (f) {
        case File::Hostname: return "hostname";
        case File::MachineId: return "machine ID";
        case File::MachineInfo: return "machine info";
        case File::OsRelease: return "os-release";
    }
    return "";
}

Result<std::string> read_file_of(int rootfd, File f) {
    switch (f) {
        case File::Hostname: return images::read_image_hostname(rootfd);
        case File::MachineId: {
            BERTH_ASSIGN(auto id, images::read_image_machine_id(rootfd));
            return std::string(id.begin(), id.end());
        }
        case File::MachineInfo: {
            BERTH_ASSIGN(auto info, images::read_image_machine_info(rootfd));
            return images::encode_pairs(info);
        }
        case File::OsRelease: {
            BERTH_ASSIGN(auto os, images::read_image_os_release(rootfd));
            return images::encode_pairs(os);
        }
    }
    return std::string();
}

// In the worker. A file that cannot be read (a FIFO, a huge file, a symbolic link loop, no valid
// hostname) is an empty answer, as systemd 252 answers it; only an image that cannot be opened fails.
Result<std::string> worker_read(const std::string& root, const std::string& name, File f) {
    ::alarm(kFileWorkerTimeoutSec);
    UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return errno_error(fmt::format("Failed to open image \"{}\" ({})", name, root));
    auto r = read_file_of(fd.get(), f);
    if (r.ok()) return r;
    spdlog::debug("Image \"{}\": no {}: {}", name, file_what(f), r.error().message);
    return std::string();
}

int answer_file(sd_bus_message* call, File f, const std::string& name, const Result<std::string>& outcome) {
    if (!outcome.ok())
        throw_bus_error(kFailed, fmt::format("Failed to read the {} of image \"{}\": {}", file_what(f), name,
                                             outcome.error().message));
    switch (f) {
        case File::Hostname: return sd_bus_reply_method_return(call, "s", outcome.value().c_str());
        case File::MachineId: {
            Reply reply(call);
            check(sd_bus_message_append_array(reply.get(), 'y', outcome.value().data(), outcome.value().size()),
                  "build the reply");
            return reply.send();
        }
        case File::MachineInfo:
        case File::OsRelease: {
            Reply reply(call);
            append_string_map(reply.get(), images::decode_pairs(outcome.value()));
            return reply.send();
        }
    }
    return 0;
}

// ---- org.freedesktop.machine1.Image ----------------------------------------------------------------

int method_image_file(sd_bus_message* call, Found& f) { return reply_image_file(call, *f.daemon, f.image); }
int method_remove(sd_bus_message* call, Found& f) { return reply_remove_image(call, *f.daemon, f.image); }
int method_rename(sd_bus_message* call, Found& f) {
    return reply_rename_image(call, *f.daemon, f.image, read_string(call));
}
int method_clone(sd_bus_message* call, Found& f) {
    const char* new_name = nullptr;
    int read_only = 0;
    read(call, "sb", &new_name, &read_only);
    return reply_clone_image(call, *f.daemon, f.image, new_name, read_only != 0);
}
int method_set_limit(sd_bus_message* call, Found& f) {
    uint64_t limit = 0;
    read(call, "t", &limit);
    return reply_set_image_limit(call, *f.daemon, f.image, limit);
}
int method_mark_read_only(sd_bus_message* call, Found& f) {
    int read_only = 0;
    read(call, "b", &read_only);
    return reply_mark_image_read_only(call, *f.daemon, f.image, read_only != 0);
}

template <auto Get>
int image_property(sd_bus_message* reply, sd_bus_message*, Found& f) {
    return Get(reply, f.image);
}

using images::Image;
int prop_name(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "s", i.name.c_str()); }
int prop_path(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "s", i.path.c_str()); }
int prop_type(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "s", images::type_name(i.type)); }
int prop_read_only(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "b", static_cast<int>(i.read_only)); }
int prop_crtime(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "t", i.crtime_usec); }
int prop_mtime(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "t", i.mtime_usec); }
int prop_usage(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "t", i.usage); }
int prop_limit(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "t", i.limit); }
int prop_usage_exclusive(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "t", i.usage_exclusive); }
int prop_limit_exclusive(sd_bus_message* r, const Image& i) { return sd_bus_message_append(r, "t", i.limit_exclusive); }

#define IMAGE_PROP(name, sig, get) SD_BUS_PROPERTY(name, sig, property<image_property<get>>, 0, 0)

// Exactly as systemd 252 declares it (tests/data/systemd-252-machine1-image.xml, checked by
// machined_introspect_test.cpp): properties first, every one EmitsChangedSignal=false (flags 0: an image
// is looked at afresh on every read, nothing announces a change), then the methods, all unprivileged.
const sd_bus_vtable kImageVtable[] = {
    SD_BUS_VTABLE_START(0),
    IMAGE_PROP("Name", "s", prop_name),
    IMAGE_PROP("Path", "s", prop_path),
    IMAGE_PROP("Type", "s", prop_type),
    IMAGE_PROP("ReadOnly", "b", prop_read_only),
    IMAGE_PROP("CreationTimestamp", "t", prop_crtime),
    IMAGE_PROP("ModificationTimestamp", "t", prop_mtime),
    IMAGE_PROP("Usage", "t", prop_usage),
    IMAGE_PROP("Limit", "t", prop_limit),
    IMAGE_PROP("UsageExclusive", "t", prop_usage_exclusive),
    IMAGE_PROP("LimitExclusive", "t", prop_limit_exclusive),
    // 252 names none of these arguments: neither does introspection here.
    SD_BUS_METHOD("Remove", "", "", method<method_remove>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Rename", "s", "", method<method_rename>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Clone", "sb", "", method<method_clone>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("MarkReadOnly", "b", "", method<method_mark_read_only>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetLimit", "t", "", method<method_set_limit>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetHostname", "", "s", method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetMachineID", "", "ay", method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetMachineInfo", "", "a{ss}", method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("GetOSRelease", "", "a{ss}", method<method_image_file>, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

// PATH -> the image, looked up on disk now; 0 (no such object) when there is none by that name.
int find_image(sd_bus*, const char* path, const char*, void* userdata, void** found, sd_bus_error*) {
    Daemon& d = daemon_of(userdata);
    std::string_view p(path), prefix(kImagePrefix);
    if (p.size() <= prefix.size() + 1 || p.substr(0, prefix.size()) != prefix || p[prefix.size()] != '/') return 0;
    std::string_view label = p.substr(prefix.size() + 1);
    if (label.find('/') != std::string_view::npos) return 0;
    auto name = bus_label_unescape(label);
    if (!name) return 0;
    auto image = d.find_image(*name);
    if (!image) return 0;
    g_found = Found{&d, std::move(*image)};
    *found = &g_found;
    return 1;
}

int enumerate_images(sd_bus*, const char*, void* userdata, char*** nodes, sd_bus_error*) {
    auto all = daemon_of(userdata).list_images();
    char** list = static_cast<char**>(calloc(all.size() + 1, sizeof(char*)));
    if (!list) return -ENOMEM;
    size_t i = 0;
    for (auto& img : all) list[i++] = strdup(image_object_path(img.name).c_str());
    *nodes = list;
    return 0;
}

}  // namespace

int reply_image_file(sd_bus_message* call, Daemon& d, const images::Image& img) {
    File f = file_of(sd_bus_message_get_member(call));
    if (img.type == images::ImageType::Raw || img.type == images::ImageType::Block)
        throw_bus_error(kNotSupported, fmt::format("Reading the {} of {} image \"{}\" is not supported yet",
                                                   file_what(f), images::type_name(img.type), img.name));
    std::string root = img.path, name = img.name;
    return answer_when_done(
        d, call, [root, f, name]() { return worker_read(root, name, f); },
        [f, name](sd_bus_message* m, const Result<std::string>& outcome) { return answer_file(m, f, name, outcome); });
}

ImageObjects::ImageObjects(Daemon& daemon, sd_bus* bus) {
    slots_.push_back(add_vtable(bus, kImagePrefix, kImageInterface, kImageVtable, &daemon, find_image));
    sd_bus_slot* slot = nullptr;
    check(sd_bus_add_node_enumerator(bus, &slot, kImagePrefix, enumerate_images, &daemon), "export the image list");
    slots_.emplace_back(slot);
}

}  // namespace berth::machined
