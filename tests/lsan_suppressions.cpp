// Linked into the test programs of a tree built with AddressSanitizer (scripts/test's
// build-asan); LeakSanitizer reads this list at exit. Debian 12's libgit2 1.5.1 leaks
// PCRE2's match data whenever a regular expression does not match (in
// git_remote_create_anonymous and git_config_foreach_match; libgit2 pull request
// 6382, after 1.5): not ours to fix, and our code calls PCRE2 nowhere else.

extern "C" const char* __lsan_default_suppressions();

extern "C" const char* __lsan_default_suppressions() {
    return "leak:libpcre2-8.so\n";
}
