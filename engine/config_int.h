/* engine/config_int.h — the parts of config loading shared by engine/config_*.c
 * (internal to them; everyone else uses engine/config_file.h).
 *
 *   config_file.c   the API: reading an extends chain, merging, ${…}
 *   config_find.c   what a spec names: a path, or a template by name
 *   config_keys.c   a finished tree to checked settings (every key)
 */
#ifndef CP_ENGINE_CONFIG_INT_H
#define CP_ENGINE_CONFIG_INT_H

#include "engine/config_file.h"

/* How errors name built-in templates: "<builtin>/local.yaml". */
#define CP__CONFIG_BUILTIN_DIR "<builtin>"

/* Where a config came from: paths in its `extends:` resolve against open_dir and
 * are shown against shown_dir (both borrowed). Built-in templates have neither. */
struct cp__config_origin {
    const char *open_dir;       /* NULL: the current directory */
    const char *shown_dir;      /* NULL: paths are shown as written */
    bool builtin;
};

/* A found config: how to open it, how errors name it, its identity (for
 * cycles), and the directories its own extends resolve against. Strings owned;
 * free with cp__config_found_free. */
struct cp__config_found {
    char *open;                 /* NULL for an embedded template */
    char *shown;
    char *id;                   /* realpath, or "<builtin>/NAME.yaml" */
    char *dir_open, *dir_shown; /* NULL: no directory part */
    const struct cp__embedded_template *builtin;    /* static, or NULL */
};

/* Finds what spec names (a path relative to from's directory, or a template
 * name). Errors are at `at` when given (the extends or config: naming it). 0, or
 * -1 with err; f is filled either way and must be freed. */
int cp__config_find(const char *spec, const struct cp__config_origin *from,
                    const struct cp__ynode *at, struct cp__config_found *f,
                    cp_err *err) CP__WUR;
void cp__config_found_free(struct cp__config_found *f);

/* An error at node `at` ("file:line:col: …") or, when at is NULL, the bare
 * message; err->code is code. Returns -1. */
int cp__config_err_at(cp_err *err, const struct cp__ynode *at, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Checks every key and value of root (a mapping, borrowed for the call) and
 * builds the settings; relative run_dir lands in base_dir (NULL or "." : as
 * written). Caller owns the result (cp__run_config_free); NULL with err
 * "file:line:col: …" at the first problem. used_defs and source are left NULL. */
struct cp__run_config *cp__config_build(const struct cp__ynode *root, const char *base_dir,
                                        cp_err *err) CP__WUR;

#endif
