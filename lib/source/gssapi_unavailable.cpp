// GSSAPI (Kerberos "Negotiate" http auth) for programs that link Debian's static
// libgit2, which is built with it: no static GSSAPI library exists, so bincastle's
// statically linked git answers every Negotiate challenge with this error instead.
// Password, token and ssh auth are unaffected.

#include <cstddef>
#include <cstring>

namespace {

using Status = unsigned int;
constexpr Status unavailable = 16u << 16;  // GSS_S_UNAVAILABLE
constexpr char message[] = "Kerberos (GSSAPI) authentication is not available in bincastle's git";

struct Buffer {
    std::size_t length;
    void* value;
};

Status fail(Status* minor) {
    if (minor) *minor = 0;
    return unavailable;
}

}  // namespace

extern "C" {

void* GSS_C_NT_HOSTBASED_SERVICE = nullptr;

Status gss_display_status(Status* minor, Status, int, void*, Status* context, Buffer* text) {
    if (minor) *minor = 0;
    if (context) *context = 0;
    text->length = std::strlen(message);
    text->value = const_cast<char*>(message);
    return 0;
}

Status gss_release_buffer(Status* minor, Buffer* buffer) {
    if (minor) *minor = 0;
    if (buffer) *buffer = {0, nullptr};
    return 0;
}

Status gss_indicate_mechs(Status* minor, void**) { return fail(minor); }
Status gss_release_oid_set(Status* minor, void**) { return fail(minor); }
Status gss_import_name(Status* minor, void*, void*, void**) { return fail(minor); }
Status gss_release_name(Status* minor, void**) { return fail(minor); }
Status gss_delete_sec_context(Status* minor, void**, void*) { return fail(minor); }
Status gss_init_sec_context(Status* minor, void*, void**, void*, void*, Status, Status, void*, void*, void**, void*,
                            Status*, Status*) {
    return fail(minor);
}

}
