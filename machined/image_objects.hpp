// The API: docs/dbus-api.md, "org.freedesktop.machine1.Image".
// The image objects, /org/freedesktop/machine1/image/LABEL: org.freedesktop.machine1.Image as an sd-bus
// fallback vtable with a find callback and a node enumerator, as the machine objects (machine_objects.hpp).
// No list of images is kept: the find callback looks the name up on disk (images/discovery.hpp), the
// enumerator lists the search path.
#pragma once

#include <systemd/sd-bus.h>

#include <vector>

#include "images/image.hpp"
#include "machined/sd_bus_object.hpp"

namespace berth::machined {

class Daemon;

class ImageObjects {
public:
    // `bus` outlives the objects; throws BusError when sd-bus refuses them.
    ImageObjects(Daemon& daemon, sd_bus* bus);
    ImageObjects(const ImageObjects&) = delete;
    ImageObjects& operator=(const ImageObjects&) = delete;

private:
    std::vector<SlotPtr> slots_;
};

// What an image says of itself (GetImageHostname .. GetImageOSRelease, and GetHostname .. GetOSRelease on
// the image's object): its files read by a forked worker (images/image_files.hpp), answered when that
// ends; the call's member says which file. A raw or block image: NotSupported (its filesystem would have
// to be mounted).
int reply_image_file(sd_bus_message* call, Daemon& d, const images::Image& img);

}  // namespace berth::machined
