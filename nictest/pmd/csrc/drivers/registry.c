/* registry.c - vendor:device -> model -> board (driver ops + per-model facts).
 * The table itself is models.h; nothing here changes when a model is added. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"

#define PMD_MODEL(vendor, device, name, board) extern const struct pmd_board pmd_board_##board;
#include "models.h"
#undef PMD_MODEL

const struct pmd_model pmd_models[] = {
#define PMD_MODEL(vendor, device, name, board) {vendor, device, name, &pmd_board_##board},
#include "models.h"
#undef PMD_MODEL
    {0, 0, NULL, NULL},
};

const struct pmd_model *pmd_model_find(uint16_t vendor, uint16_t device)
{
    for (const struct pmd_model *m = pmd_models; m->board; m++)
        if (m->vendor == vendor && m->device == device)
            return m;
    return NULL;
}

/* "e1000 (8086:100e 82540EM +16 more), e1000e (8086:10d3 82574L)": each
 * driver with its first model and how many more IDs it takes. */
void pmd_models_describe(char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const struct pmd_model *m = pmd_models; m->board; m++) {
        int seen = 0, more = 0;
        for (const struct pmd_model *p = pmd_models; p->board; p++)
            if (p->board->ops == m->board->ops) {
                seen |= p < m;
                more += p > m;
            }
        if (seen)
            continue;
        int n = snprintf(out + used, size - used, "%s%s (%04x:%04x %s", used ? ", " : "", m->board->ops->name,
                         m->vendor, m->device, m->name);
        if (n > 0 && used + (size_t)n < size && more)
            n += snprintf(out + used + n, size - used - (size_t)n, " +%d more", more);
        if (n > 0 && used + (size_t)n < size)
            n += snprintf(out + used + n, size - used - (size_t)n, ")");
        if (n < 0 || used + (size_t)n >= size)
            return; /* truncated: still a valid string */
        used += (size_t)n;
    }
}

static void model_info(const struct pmd_model *m, struct pmd_model_info *out)
{
    const struct pmd_board *b = m->board;
    memset(out, 0, sizeof *out);
    out->vendor = m->vendor;
    out->device = m->device;
    snprintf(out->name, sizeof out->name, "%s", m->name);
    snprintf(out->driver, sizeof out->driver, "%s", b->ops->name);
    out->desc_format = b->desc_format;
    out->rx_desc_size = b->ops->rx_desc_size;
    out->tx_desc_size = b->ops->tx_desc_size;
    out->reg_bar = b->reg_bar;
    out->max_frame = b->max_frame;
    out->rx_queues = b->rx_queues;
    out->tx_queues = b->tx_queues;
    out->msix_vectors = b->msix_vectors;
    out->resets = b->resets;
    out->flags = b->flags;
    out->mac_filters = b->mac_filters;
    snprintf(out->features, sizeof out->features, "%s", b->features ? b->features : "");
}

int pmd_model_at(uint32_t i, struct pmd_model_info *out)
{
    pmd_clear_error();
    for (uint32_t k = 0; pmd_models[k].board; k++)
        if (k == i) {
            model_info(&pmd_models[k], out);
            return 0;
        }
    return -ENOENT;
}

int pmd_model_lookup(uint16_t vendor, uint16_t device, struct pmd_model_info *out)
{
    pmd_clear_error();
    const struct pmd_model *m = pmd_model_find(vendor, device);
    if (!m) {
        char known[1024];
        pmd_models_describe(known, sizeof known);
        return pmd_fail(ENOENT, "no nictest PMD driver for %04x:%04x; drivers: %s", vendor, device, known);
    }
    model_info(m, out);
    return 0;
}
