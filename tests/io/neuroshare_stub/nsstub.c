/*
 * nsstub: a tiny Neuroshare library for Wavescope's tests.
 *
 * It serves the Neuroshare C API over a made-up file layout (little-endian):
 *   0   char[8]  magic "NSSTUB01"
 *   8   uint32   number of entities
 *   12  uint32   reserved (0)
 *   16  float64  time of the first analog sample, in seconds
 *   24  entity records of 96 bytes each:
 *         char[32] label, uint32 type (1 event, 2 analog), uint32 item count,
 *         float64 sample rate, float64 resolution (physical unit per step),
 *         char[16] units, uint64 data offset, char[16] probe text
 * Analog items are int16 steps (returned as step * resolution); event items are
 * float64 timestamps in seconds.
 *
 * Compile with -DSTUB_PACK4 for the 4-byte struct packing of the MSVC vendor
 * builds; without it the structs have the compiler's natural alignment. Every
 * Get*Info call checks the size it is given, as a careful vendor library does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_OK 0
#define NS_LIBERROR (-1)
#define NS_TYPEERROR (-2)
#define NS_FILEERROR (-3)
#define NS_BADFILE (-4)
#define NS_BADENTITY (-5)
#define NS_BADINDEX (-7)

#define MAX_FILES 8
#define HEADER_BYTES 24
#define RECORD_BYTES 96

#ifdef STUB_PACK4
#pragma pack(push, 4)
#endif
typedef struct {
    char description[32];
    char extension[8];
    char mac_codes[8];
    char magic[16];
} stub_filedesc;

typedef struct {
    uint32_t lib_major, lib_minor, api_major, api_minor;
    char description[64];
    char creator[64];
    uint32_t year, month, day, flags, max_files, desc_count;
    stub_filedesc descs[16];
} stub_libraryinfo;

typedef struct {
    char file_type[32];
    uint32_t entity_count;
    double timestamp_resolution;
    double time_span;
    char app_name[64];
    uint32_t year, month, day_of_week, day, hour, minute, second, millisecond;
    char comment[256];
} stub_fileinfo;

typedef struct {
    char label[32];
    uint32_t type;
    uint32_t item_count;
} stub_entityinfo;

typedef struct {
    double rate, min_value, max_value;
    char units[16];
    double resolution, x, y, z, user, high_corner;
    uint32_t high_order;
    char high_type[16];
    double low_corner;
    uint32_t low_order;
    char low_type[16];
    char probe[128];
} stub_analoginfo;
#ifdef STUB_PACK4
#pragma pack(pop)
#endif

typedef struct {
    char label[33];
    uint32_t type, count;
    double rate, resolution;
    char units[17], probe[17];
    uint64_t offset;
} stub_entity;

typedef struct {
    FILE *file;
    uint32_t n_entities;
    double t0;
    stub_entity *entities;
} stub_open_file;

static stub_open_file files[MAX_FILES];
static char last_error[256] = "";
static uint64_t bytes_read = 0;

static int32_t fail(int32_t code, const char *message) {
    snprintf(last_error, sizeof last_error, "%s", message);
    return code;
}

static int32_t check_size(uint32_t given, size_t wanted, const char *what) {
    char message[128];
    if (given == wanted)
        return NS_OK;
    snprintf(message, sizeof message, "%s size %u, this library expects %u", what,
             (unsigned)given, (unsigned)wanted);
    return fail(NS_LIBERROR, message);
}

static stub_open_file *file_of(uint32_t handle) {
    if (handle >= MAX_FILES || files[handle].file == NULL)
        return NULL;
    return &files[handle];
}

static stub_entity *entity_of(stub_open_file *f, uint32_t entity) {
    return entity < f->n_entities ? &f->entities[entity] : NULL;
}

int32_t ns_GetLibraryInfo(stub_libraryinfo *info, uint32_t size) {
    int32_t status = check_size(size, sizeof *info, "ns_LIBRARYINFO");
    if (status != NS_OK)
        return status;
    memset(info, 0, sizeof *info);
    info->lib_major = 1;
    info->api_major = 1;
    info->api_minor = 3;
    snprintf(info->description, 64, "Wavescope test stub");
    snprintf(info->creator, 64, "Wavescope tests");
    info->max_files = MAX_FILES;
    info->desc_count = 1;
    snprintf(info->descs[0].description, 32, "stub recording");
    snprintf(info->descs[0].extension, 8, "nss");
    snprintf(info->descs[0].magic, 16, "NSSTUB01");
    return NS_OK;
}

static int32_t read_entities(stub_open_file *f, long file_size) {
    unsigned char record[RECORD_BYTES];
    uint32_t k;
    f->entities = calloc(f->n_entities ? f->n_entities : 1, sizeof(stub_entity));
    if (f->entities == NULL)
        return fail(NS_LIBERROR, "out of memory");
    for (k = 0; k < f->n_entities; k++) {
        stub_entity *e = &f->entities[k];
        uint64_t item_bytes;
        if (fread(record, 1, RECORD_BYTES, f->file) != RECORD_BYTES)
            return fail(NS_FILEERROR, "the entity table is cut short (truncated file)");
        memcpy(e->label, record, 32);
        memcpy(&e->type, record + 32, 4);
        memcpy(&e->count, record + 36, 4);
        memcpy(&e->rate, record + 40, 8);
        memcpy(&e->resolution, record + 48, 8);
        memcpy(e->units, record + 56, 16);
        memcpy(&e->offset, record + 72, 8);
        memcpy(e->probe, record + 80, 16);
        item_bytes = e->type == 2 ? 2 : 8;
        if (e->offset + item_bytes * e->count > (uint64_t)file_size)
            return fail(NS_FILEERROR, "entity data run past the end of the file (truncated file)");
    }
    return NS_OK;
}

int32_t ns_OpenFile(const char *path, uint32_t *handle) {
    unsigned char header[HEADER_BYTES];
    stub_open_file *f;
    long file_size;
    int32_t status;
    uint32_t slot;
    for (slot = 0; slot < MAX_FILES; slot++)
        if (files[slot].file == NULL)
            break;
    if (slot == MAX_FILES)
        return fail(NS_LIBERROR, "too many open files");
    f = &files[slot];
    f->file = fopen(path, "rb");
    if (f->file == NULL)
        return fail(NS_FILEERROR, "cannot open the file");
    fseek(f->file, 0, SEEK_END);
    file_size = ftell(f->file);
    fseek(f->file, 0, SEEK_SET);
    if (fread(header, 1, HEADER_BYTES, f->file) != HEADER_BYTES || memcmp(header, "NSSTUB01", 8) != 0)
        status = fail(NS_TYPEERROR, "not an NSSTUB01 file");
    else {
        memcpy(&f->n_entities, header + 8, 4);
        memcpy(&f->t0, header + 16, 8);
        status = read_entities(f, file_size);
    }
    if (status != NS_OK) {
        fclose(f->file);
        free(f->entities);
        memset(f, 0, sizeof *f);
        return status;
    }
    *handle = slot;
    return NS_OK;
}

int32_t ns_CloseFile(uint32_t handle) {
    stub_open_file *f = file_of(handle);
    if (f == NULL)
        return fail(NS_BADFILE, "no such file handle");
    fclose(f->file);
    free(f->entities);
    memset(f, 0, sizeof *f);
    return NS_OK;
}

int32_t ns_GetFileInfo(uint32_t handle, stub_fileinfo *info, uint32_t size) {
    stub_open_file *f = file_of(handle);
    int32_t status = check_size(size, sizeof *info, "ns_FILEINFO");
    double span = 0;
    uint32_t k;
    if (status != NS_OK)
        return status;
    if (f == NULL)
        return fail(NS_BADFILE, "no such file handle");
    memset(info, 0, sizeof *info);
    snprintf(info->file_type, 32, "NSSTUB01");
    info->entity_count = f->n_entities;
    info->timestamp_resolution = 1e-6;
    for (k = 0; k < f->n_entities; k++)
        if (f->entities[k].type == 2 && f->entities[k].count / f->entities[k].rate > span)
            span = f->entities[k].count / f->entities[k].rate;
    info->time_span = span;
    snprintf(info->app_name, 64, "nsstub");
    info->year = 2024;
    snprintf(info->comment, 256, "written by Wavescope's tests");
    return NS_OK;
}

int32_t ns_GetEntityInfo(uint32_t handle, uint32_t entity, stub_entityinfo *info, uint32_t size) {
    stub_open_file *f = file_of(handle);
    stub_entity *e;
    int32_t status = check_size(size, sizeof *info, "ns_ENTITYINFO");
    if (status != NS_OK)
        return status;
    if (f == NULL)
        return fail(NS_BADFILE, "no such file handle");
    if ((e = entity_of(f, entity)) == NULL)
        return fail(NS_BADENTITY, "no such entity");
    memset(info, 0, sizeof *info);
    memcpy(info->label, e->label, 32);
    info->type = e->type;
    info->item_count = e->count;
    return NS_OK;
}

int32_t ns_GetAnalogInfo(uint32_t handle, uint32_t entity, stub_analoginfo *info, uint32_t size) {
    stub_open_file *f = file_of(handle);
    stub_entity *e;
    int32_t status = check_size(size, sizeof *info, "ns_ANALOGINFO");
    if (status != NS_OK)
        return status;
    if (f == NULL)
        return fail(NS_BADFILE, "no such file handle");
    if ((e = entity_of(f, entity)) == NULL || e->type != 2)
        return fail(NS_BADENTITY, "not an analog entity");
    memset(info, 0, sizeof *info);
    info->rate = e->rate;
    info->min_value = -32768 * e->resolution;
    info->max_value = 32767 * e->resolution;
    memcpy(info->units, e->units, 16);
    info->resolution = e->resolution;
    info->high_corner = 5000.0;
    info->high_order = 2;
    snprintf(info->high_type, 16, "Butterworth");
    info->low_corner = 1.0;
    info->low_order = 1;
    snprintf(info->low_type, 16, "Butterworth");
    memcpy(info->probe, e->probe, 16);
    return NS_OK;
}

int32_t ns_GetAnalogData(uint32_t handle, uint32_t entity, uint32_t start, uint32_t count,
                         uint32_t *cont_count, double *data) {
    stub_open_file *f = file_of(handle);
    stub_entity *e;
    int16_t *steps;
    uint32_t k;
    if (f == NULL)
        return fail(NS_BADFILE, "no such file handle");
    if ((e = entity_of(f, entity)) == NULL || e->type != 2)
        return fail(NS_BADENTITY, "not an analog entity");
    if ((uint64_t)start + count > e->count)
        return fail(NS_BADINDEX, "index range past the end of the entity");
    steps = malloc(count ? (size_t)count * 2 : 2);
    if (steps == NULL)
        return fail(NS_LIBERROR, "out of memory");
    fseek(f->file, (long)(e->offset + (uint64_t)start * 2), SEEK_SET);
    if (fread(steps, 2, count, f->file) != count) {
        free(steps);
        return fail(NS_FILEERROR, "short read");
    }
    bytes_read += (uint64_t)count * 2;
    for (k = 0; k < count; k++)
        data[k] = steps[k] * e->resolution;
    free(steps);
    *cont_count = count;
    return NS_OK;
}

int32_t ns_GetTimeByIndex(uint32_t handle, uint32_t entity, uint32_t index, double *time) {
    stub_open_file *f = file_of(handle);
    stub_entity *e;
    if (f == NULL)
        return fail(NS_BADFILE, "no such file handle");
    if ((e = entity_of(f, entity)) == NULL || e->type != 2)
        return fail(NS_BADENTITY, "not an analog entity");
    *time = f->t0 + index / e->rate;
    return NS_OK;
}

int32_t ns_GetLastErrorMsg(char *buffer, uint32_t size) {
    if (size == 0)
        return NS_LIBERROR;
    snprintf(buffer, size, "%s", last_error);
    return NS_OK;
}

/* Test hooks, not part of the Neuroshare API. */
uint64_t stub_bytes_read(void) { return bytes_read; }

uint32_t stub_open_files(void) {
    uint32_t k, n = 0;
    for (k = 0; k < MAX_FILES; k++)
        n += files[k].file != NULL;
    return n;
}
