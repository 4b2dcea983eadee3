/* A plain C Level Zero program (spec 1.4 headers, legacy Sysman path: ZES_ENABLE_SYSMAN=1 and
 * zeInit), run by tests/python/test_standalone_driver.py through the system's loader against the
 * wheel's standalone simulated driver. For every device of every driver it prints what it read,
 * then the simulator's modeled truth for that device, fetched from the very instance the loader
 * loaded (dlopen of an already loaded path returns it). Output, one record per line:
 *   device <driver> <index> <name>
 *   memory_used <driver> <index> <bytes>
 *   energy_uj <driver> <index> <microjoules of the first power domain>
 *   truth <driver> <index> <json>
 * The driver files are the comma-separated paths in ZE_ENABLE_ALT_DRIVERS, in that order.
 */
#include <dlfcn.h>
#include <level_zero/ze_api.h>
#include <level_zero/zes_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int32_t (*control_fn)(const char *, char *, size_t);

static int fail(const char *what, ze_result_t rc) {
    fprintf(stderr, "%s failed: 0x%x\n", what, (unsigned)rc);
    return 1;
}

/* zesSimControl of the index-th file of ZE_ENABLE_ALT_DRIVERS. */
static control_fn control_of(unsigned index) {
    const char *list = getenv("ZE_ENABLE_ALT_DRIVERS");
    char paths[4096];
    if (list == NULL || strlen(list) >= sizeof paths) return NULL;
    strcpy(paths, list);
    char *save = NULL;
    char *path = strtok_r(paths, ",", &save);
    for (unsigned i = 0; path != NULL && i < index; i++) path = strtok_r(NULL, ",", &save);
    if (path == NULL) return NULL;
    void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    return lib ? (control_fn)dlsym(lib, "zesSimControl") : NULL;
}

int main(void) {
    static char reply[1 << 20];
    ze_result_t rc = zeInit(0);
    if (rc != ZE_RESULT_SUCCESS) return fail("zeInit", rc);
    uint32_t driver_count = 0;
    if ((rc = zeDriverGet(&driver_count, NULL)) != ZE_RESULT_SUCCESS) return fail("zeDriverGet", rc);
    ze_driver_handle_t drivers[16];
    if (driver_count > 16) driver_count = 16;
    if ((rc = zeDriverGet(&driver_count, drivers)) != ZE_RESULT_SUCCESS) return fail("zeDriverGet", rc);
    printf("drivers %u\n", driver_count);
    for (uint32_t d = 0; d < driver_count; d++) {
        control_fn control = control_of(d);
        if (control == NULL) return fail("zesSimControl lookup", ZE_RESULT_ERROR_UNKNOWN);
        /* Step the (frozen) clock so that the energy counters have integrated something. */
        if (control("{\"op\":\"advance\",\"seconds\":2}", reply, sizeof reply) != 0)
            return fail("advance", ZE_RESULT_ERROR_UNKNOWN);
        uint32_t device_count = 0;
        if ((rc = zeDeviceGet(drivers[d], &device_count, NULL)) != ZE_RESULT_SUCCESS) return fail("zeDeviceGet", rc);
        ze_device_handle_t devices[64];
        if (device_count > 64) device_count = 64;
        if ((rc = zeDeviceGet(drivers[d], &device_count, devices)) != ZE_RESULT_SUCCESS) return fail("zeDeviceGet", rc);
        for (uint32_t i = 0; i < device_count; i++) {
            zes_device_handle_t dev = (zes_device_handle_t)devices[i];
            zes_device_properties_t props = {.stype = ZES_STRUCTURE_TYPE_DEVICE_PROPERTIES};
            if ((rc = zesDeviceGetProperties(dev, &props)) != ZE_RESULT_SUCCESS) return fail("zesDeviceGetProperties", rc);
            printf("device %u %u %s\n", d, i, props.core.name);

            uint32_t n = 0;
            zes_mem_handle_t mems[16];
            if ((rc = zesDeviceEnumMemoryModules(dev, &n, NULL)) != ZE_RESULT_SUCCESS) return fail("zesDeviceEnumMemoryModules", rc);
            if (n > 16) n = 16;
            if ((rc = zesDeviceEnumMemoryModules(dev, &n, mems)) != ZE_RESULT_SUCCESS) return fail("zesDeviceEnumMemoryModules", rc);
            uint64_t used = 0;
            for (uint32_t m = 0; m < n; m++) {
                zes_mem_state_t state = {.stype = ZES_STRUCTURE_TYPE_MEM_STATE};
                if ((rc = zesMemoryGetState(mems[m], &state)) != ZE_RESULT_SUCCESS) return fail("zesMemoryGetState", rc);
                used += state.size - state.free;
            }
            printf("memory_used %u %u %llu\n", d, i, (unsigned long long)used);

            n = 0;
            zes_pwr_handle_t power[16];
            if ((rc = zesDeviceEnumPowerDomains(dev, &n, NULL)) != ZE_RESULT_SUCCESS) return fail("zesDeviceEnumPowerDomains", rc);
            if (n > 16) n = 16;
            if ((rc = zesDeviceEnumPowerDomains(dev, &n, power)) != ZE_RESULT_SUCCESS) return fail("zesDeviceEnumPowerDomains", rc);
            if (n > 0) {
                zes_power_energy_counter_t energy = {0};
                if ((rc = zesPowerGetEnergyCounter(power[0], &energy)) != ZE_RESULT_SUCCESS) return fail("zesPowerGetEnergyCounter", rc);
                printf("energy_uj %u %u %llu\n", d, i, (unsigned long long)energy.energy);
            }

            char request[64];
            snprintf(request, sizeof request, "{\"op\":\"truth\",\"device\":%u}", i);
            if (control(request, reply, sizeof reply) != 0) return fail("truth", ZE_RESULT_ERROR_UNKNOWN);
            printf("truth %u %u %s\n", d, i, reply);
        }
    }
    return 0;
}
