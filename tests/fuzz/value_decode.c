/* libFuzzer target for the value decoder (the msgpack bodies of wire frames):
 * any input is either refused with a message or decodes to a value that encodes
 * and decodes back to an equal value. Build and run: make fuzz FUZZ_SECONDS=60. */
#include <stdint.h>
#include <stdlib.h>

#include "common/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cp_value v, again;
    cp_err err = {0};
    if (cp__value_decode(data, size, &v, &err) != 0) {
        if (!err.text[0])
            abort();            /* a refusal must say why */
        return 0;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (cp__value_encode(&v, &buf, &len, &cap, &err) != 0)
        abort();                /* whatever we accept, we can write */
    if (cp__value_decode(buf, len, &again, &err) != 0 || !cp__value_equal(&v, &again))
        abort();
    free(buf);
    cp__value_clear(&again);
    cp__value_clear(&v);
    return 0;
}
