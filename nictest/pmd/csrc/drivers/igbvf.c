/* igbvf.c - Intel 82576 virtual function (8086:10ca), queue 0, polled.
 * The PF stays on its kernel driver (Linux igb), which owns the MAC, the filters
 * and RCTL/TCTL; the VF asks it for what it needs through the PF/VF mailbox
 * (datasheet 7.8.2.9, Linux igbvf mbx.c/vf.c for the protocol):
 *   CTRL.RST, wait until the mailbox shows no reset (RSTI/RSTD), send VF_RESET:
 *   the PF enables the VF's queues (VFRE/VFTE) and answers VF_RESET|ACK with the
 *   MAC it gave the VF, or NACK when it has none: then the VF picks a random one
 *   and asks for it (SET_MAC_ADDR), as Linux igbvf does. Until then the PF's
 *   switch drops the VF's frames.
 * The rings are the PF's advanced-descriptor rings (igb_family.c) at the VF's
 * queue 0 block. Counters are the VF's own free-running VFGxxC registers. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "../internal.h"
#include "../regs.h"
#include "e1000_family.h"
#include "igb_family.h"
#include "igbvf_regs.h"

/* Linux igbvf waits 200 x 5 us for RSTI/RSTD and 2000 x 500 us (1 s) for a posted message;
 * longer here: the PF's kernel answers from its interrupt handler, which an emulated host
 * under load may run late. Both bound only a failure. */
#define RSTI_TIMEOUT_MS 1000
#define MBX_TIMEOUT_MS 3000
#define QUEUE_TIMEOUT_MS 100

/* What the driver keeps in port->driver_state. */
struct igbvf_state {
    uint32_t seen;          /* clear-on-read mailbox bits read but not yet consumed */
    uint32_t fresh;         /* a VF reset + VF_RESET exchange just happened: init need not redo it */
    uint32_t have_mac;      /* the PF answered VF_RESET with a MAC */
    uint32_t last[4];       /* VFGPRC, VFGPTC, VFGORC, VFGOTC when last read */
};
_Static_assert(sizeof(struct igbvf_state) <= sizeof(((struct pmd_port *)0)->driver_state),
               "igbvf state fits in pmd_port.driver_state");

static struct igbvf_state *vf_state(struct pmd_port *port) { return (struct igbvf_state *)port->driver_state; }

static const uint32_t counter_regs[4] = {IGBVF_VFGPRC, IGBVF_VFGPTC, IGBVF_VFGORC, IGBVF_VFGOTC};

/* ---- the mailbox --------------------------------------------------------- */

/* V2PMAILBOX, remembering the clear-on-read bits so no read loses one. */
static uint32_t mbx_read(struct pmd_port *port)
{
    struct igbvf_state *st = vf_state(port);
    uint32_t v = get_reg32(port->regs, IGBVF_V2PMAILBOX) | st->seen;
    st->seen = v & IGBVF_V2PMAILBOX_R2C_BITS;
    return v;
}

/* Wait for (and consume) one of the clear-on-read bits. */
static int mbx_wait_bit(struct pmd_port *port, uint32_t bit, uint32_t timeout_ms)
{
    uint64_t deadline = pmd_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    struct timespec pause = {0, 100000};
    for (;;) {
        if (mbx_read(port) & bit) {
            vf_state(port)->seen &= ~bit;
            return 0;
        }
        if (pmd_now_ns() >= deadline)
            return -ETIMEDOUT;
        nanosleep(&pause, NULL);
    }
}

static int mbx_lock(struct pmd_port *port)
{
    set_reg32(port->regs, IGBVF_V2PMAILBOX, IGBVF_V2PMAILBOX_VFU);
    uint32_t v = mbx_read(port);
    if (!(v & IGBVF_V2PMAILBOX_VFU))
        return pmd_fail(EBUSY, "V2PMAILBOX = 0x%08x: the PF holds the mailbox buffer (PFU), the VF could not take it", v);
    return 0;
}

static const char *msg_name(uint32_t type)
{
    switch (type) {
    case IGBVF_VF_RESET: return "VF_RESET";
    case IGBVF_VF_SET_MAC_ADDR: return "SET_MAC_ADDR";
    case IGBVF_VF_SET_MULTICAST: return "SET_MULTICAST";
    case IGBVF_VF_SET_LPE: return "SET_LPE";
    default: return "message";
    }
}

/* Send msg[0..len) and wait for the PF's ACK of it, then for its answer (reply_len
 * words). The PF's kernel driver reads the mailbox from its interrupt handler, which
 * it has only while its netdev is up: say so when it stays silent. */
static int mbx_request(struct pmd_port *port, const uint32_t *msg, uint32_t len, uint32_t *reply, uint32_t reply_len)
{
    volatile uint8_t *bar = port->regs;
    const char *what = msg_name(msg[0] & 0xFFFF);
    int rc;
    if ((rc = mbx_lock(port)) < 0)
        return rc;
    /* Old acknowledgements and messages belong to no request of ours. */
    vf_state(port)->seen &= ~(IGBVF_V2PMAILBOX_PFACK | IGBVF_V2PMAILBOX_PFSTS);
    for (uint32_t i = 0; i < len; i++)
        set_reg32(bar, IGBVF_VMBMEM + 4 * i, msg[i]);
    set_reg32(bar, IGBVF_V2PMAILBOX, IGBVF_V2PMAILBOX_REQ); /* drops VFU, interrupts the PF */
    if (mbx_wait_bit(port, IGBVF_V2PMAILBOX_PFACK, MBX_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "%s: the PF did not take the VF's %s within %d ms (V2PMAILBOX 0x%08x): "
                                   "its kernel driver serves the mailbox only while its netdev is up",
                        port->dev->address, what, MBX_TIMEOUT_MS, get_reg32(bar, IGBVF_V2PMAILBOX));
    if (mbx_wait_bit(port, IGBVF_V2PMAILBOX_PFSTS, MBX_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "%s: the PF took the VF's %s but did not answer within %d ms", port->dev->address,
                        what, MBX_TIMEOUT_MS);
    for (;;) {
        if ((rc = mbx_lock(port)) < 0)
            return rc;
        for (uint32_t i = 0; i < reply_len && i < IGBVF_VFMAILBOX_SIZE; i++)
            reply[i] = get_reg32(bar, IGBVF_VMBMEM + 4 * i);
        set_reg32(bar, IGBVF_V2PMAILBOX, IGBVF_V2PMAILBOX_ACK); /* read: release the buffer */
        if (!(reply[0] & IGBVF_PF_CONTROL_MSG))
            break;
        /* A PF notice (its link or reset changed) that crossed our request: the answer is still to come. */
        if (mbx_wait_bit(port, IGBVF_V2PMAILBOX_PFSTS, MBX_TIMEOUT_MS) < 0)
            return pmd_fail(ETIMEDOUT, "%s: the PF sent a control message (0x%08x) but no answer to the VF's %s "
                                       "within %d ms", port->dev->address, reply[0], what, MBX_TIMEOUT_MS);
    }
    uint32_t type = reply[0] & ~IGBVF_VT_MSGTYPE_CTS;
    if (type == ((msg[0] & 0xFFFF) | IGBVF_VT_MSGTYPE_NACK))
        return pmd_fail(EPERM, "%s: the PF refused the VF's %s (NACK)", port->dev->address, what);
    if (type != ((msg[0] & 0xFFFF) | IGBVF_VT_MSGTYPE_ACK))
        return pmd_fail(EPROTO, "%s: the PF answered the VF's %s with 0x%08x", port->dev->address, what, reply[0]);
    return 0;
}

/* ---- reset and bring-up ---------------------------------------------------- */

static void mask_interrupts(volatile uint8_t *bar)
{
    set_reg32(bar, IGBVF_EIMC, IGBVF_EIMS_ALL);
    set_reg32(bar, IGBVF_EIAC, 0);
    set_reg32(bar, IGBVF_EIAM, 0);
    (void)get_reg32(bar, IGBVF_EICR);
}

static void counters_mark(struct pmd_port *port)
{
    for (int i = 0; i < 4; i++)
        vf_state(port)->last[i] = get_reg32(port->regs, counter_regs[i]);
}

/* A random unicast, locally administered MAC (what Linux's eth_random_addr makes). */
static int random_mac(uint8_t mac[6])
{
    if (getrandom(mac, 6, 0) != 6)
        return pmd_fail(errno ? errno : EIO, "getrandom for a VF MAC failed");
    mac[0] = (uint8_t)((mac[0] & 0xFE) | 0x02);
    return 0;
}

/* CTRL.RST (the VF's queues and interrupts), then VF_RESET to the PF: it resets its
 * view of the VF, enables the VF's queues in its switch and answers with the MAC. */
static int igbvf_reset(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct igbvf_state *st = vf_state(port);
    mask_interrupts(bar);
    st->seen = 0;
    st->have_mac = 0;
    set_reg32(bar, IGBVF_CTRL, IGBVF_CTRL_RST);
    /* The VF may not be set up while the PF signals a reset in progress (RSTI) or
     * one just done (RSTD, cleared by this read). */
    uint64_t deadline = pmd_now_ns() + (uint64_t)RSTI_TIMEOUT_MS * 1000000ull;
    struct timespec pause = {0, 100000};
    while (get_reg32(bar, IGBVF_V2PMAILBOX) & (IGBVF_V2PMAILBOX_RSTI | IGBVF_V2PMAILBOX_RSTD)) {
        if (pmd_now_ns() >= deadline)
            return pmd_fail(ETIMEDOUT, "%s: the PF still signals a reset %d ms after the VF's CTRL.RST "
                                       "(V2PMAILBOX 0x%08x): is the PF's netdev up?",
                            port->dev->address, RSTI_TIMEOUT_MS, get_reg32(bar, IGBVF_V2PMAILBOX));
        nanosleep(&pause, NULL);
    }
    mask_interrupts(bar);
    uint32_t msg[3] = {IGBVF_VF_RESET, 0, 0}, reply[3] = {0};
    int rc = mbx_request(port, msg, 1, reply, 3);
    if (rc == -EPERM) {
        /* No MAC on the PF's side for this VF (Linux igb clears a MAC it did not set
         * itself when the VF resets): choose one, as Linux igbvf does, and ask for it. */
        uint8_t mac[6];
        if ((rc = random_mac(mac)) < 0)
            return rc;
        pmd_clear_error();
        msg[0] = IGBVF_VF_SET_MAC_ADDR;
        memcpy(&msg[1], mac, 6);
        if ((rc = mbx_request(port, msg, 3, reply, 3)) == -EPERM)
            return pmd_fail(EADDRNOTAVAIL, "%s: the PF gave no MAC in its answer to VF_RESET and refused the VF's "
                                           "SET_MAC_ADDR; give the VF a MAC on the host (ip link set <PF netdev> vf "
                                           "<n> mac <MAC>)", port->dev->address);
        if (rc < 0)
            return rc;
        memcpy(port->mac, mac, 6);
    } else if (rc < 0) {
        return rc;
    } else {
        memcpy(port->mac, &reply[1], 6); /* bytes 4..9 of the answer, in wire order */
    }
    st->have_mac = 1;
    st->fresh = 1;
    counters_mark(port);
    return 0;
}

static int read_mac(struct pmd_port *port, uint8_t mac[6])
{
    int rc;
    if (!vf_state(port)->have_mac && (rc = igbvf_reset(port)) < 0)
        return rc;
    if (mac != port->mac)
        memcpy(mac, port->mac, 6);
    return 0;
}

static int queue_disable(volatile uint8_t *bar, uint32_t reg, const char *name)
{
    set_reg32(bar, reg, get_reg32(bar, reg) & ~IGBVF_QUEUE_ENABLE);
    if (wait_reg32(bar, reg, IGBVF_QUEUE_ENABLE, 0, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "%s enable bit still set %d ms after clearing it (0x%08x)", name, QUEUE_TIMEOUT_MS,
                        get_reg32(bar, reg));
    return 0;
}

static int igbvf_stop(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    int rc_rx = queue_disable(bar, IGBVF_RXDCTL0, "RXDCTL0");
    int rc_tx = queue_disable(bar, IGBVF_TXDCTL0, "TXDCTL0");
    mask_interrupts(bar);
    (void)get_reg32(bar, IGBVF_STATUS); /* flush posted writes */
    port->started = 0;
    return rc_rx < 0 ? rc_rx : rc_tx;
}

static int igbvf_init(struct pmd_port *port)
{
    volatile uint8_t *bar = port->regs;
    struct igbvf_state *st = vf_state(port);
    int rc;
    /* Every bring-up starts from a VF reset the PF took part in (after an FLR the PF
     * has disabled the VF's queues in its switch until it hears VF_RESET again). */
    if (!st->fresh && (rc = igbvf_reset(port)) < 0)
        return rc;
    st->fresh = 0;
    if ((rc = igbvf_stop(port)) < 0 ||
        (rc = queue_disable(bar, IGBVF_RXDCTL0 + 0x100, "RXDCTL1")) < 0 ||
        (rc = queue_disable(bar, IGBVF_TXDCTL0 + 0x100, "TXDCTL1")) < 0)
        return rc;
    igb_family_rings_program(port, IGBVF_RX_QUEUE0, IGBVF_TX_QUEUE0);
    set_reg32(bar, IGBVF_RXDCTL0, IGBVF_QUEUE_ENABLE | 1u << IGB_RXDCTL_WTHRESH_SHIFT);
    set_reg32(bar, IGBVF_TXDCTL0, IGBVF_QUEUE_ENABLE);
    if (wait_reg32(bar, IGBVF_RXDCTL0, IGBVF_QUEUE_ENABLE, IGBVF_QUEUE_ENABLE, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "RXDCTL0 = 0x%08x: VF queue 0 not enabled within %d ms (the PF's receive unit "
                                   "must be on: its netdev up)", get_reg32(bar, IGBVF_RXDCTL0), QUEUE_TIMEOUT_MS);
    if (wait_reg32(bar, IGBVF_TXDCTL0, IGBVF_QUEUE_ENABLE, IGBVF_QUEUE_ENABLE, QUEUE_TIMEOUT_MS) < 0)
        return pmd_fail(ETIMEDOUT, "TXDCTL0 = 0x%08x: VF queue 0 not enabled within %d ms",
                        get_reg32(bar, IGBVF_TXDCTL0), QUEUE_TIMEOUT_MS);
    /* All but one RX descriptor to the device (head == tail means empty). */
    set_reg32(bar, IGBVF_RDT0, port->rx.size - 1);
    port->started = 1;
    return 0;
}

/* ---- rings: igb_family.c at the VF's queue 0 ------------------------------ */

static int igbvf_tx_burst(struct pmd_port *port, uint32_t max, pmd_fill_fn fill, void *ctx)
{
    return igb_family_tx_burst(port, IGBVF_TDT0, max, fill, ctx);
}

static int igbvf_tx_raw(struct pmd_port *port, uint64_t bus, uint32_t len)
{
    return igb_family_tx_raw(port, IGBVF_TDT0, bus, len);
}

static int igbvf_rx_burst(struct pmd_port *port, uint32_t max, pmd_recv_fn recv, void *ctx)
{
    return igb_family_rx_burst(port, IGBVF_RDT0, max, recv, ctx);
}

/* The VF's counters run free and wrap at 2^32: add what they moved since the last read. */
static int igbvf_read_stats(struct pmd_port *port, struct pmd_stats *acc)
{
    struct igbvf_state *st = vf_state(port);
    uint64_t *field[4] = {&acc->rx_packets, &acc->tx_packets, &acc->rx_bytes, &acc->tx_bytes};
    for (int i = 0; i < 4; i++) {
        uint32_t now = get_reg32(port->regs, counter_regs[i]);
        *field[i] += (uint32_t)(now - st->last[i]);
        st->last[i] = now;
    }
    return 0;
}

/* The generic names (pmd.h) on the VF: its receive/transmit control are the queue's
 * RXDCTL0/TXDCTL0 (RCTL/TCTL are the PF's). */
static const struct pmd_reg_map igbvf_regs[] = {
    {"control", "CTRL", IGBVF_CTRL, -1},
    {"status", "STATUS", IGBVF_STATUS, -1},
    {"interrupt mask", "EIMS", IGBVF_EIMS, -1},
    {"rx control", "RXDCTL0", IGBVF_RXDCTL0, -1},
    {"tx control", "TXDCTL0", IGBVF_TXDCTL0, -1},
    {"rx ring base", "RDBAL0/RDBAH0", IGBVF_RDBAL0, IGBVF_RDBAH0},
    {"rx ring length", "RDLEN0", IGBVF_RDLEN0, -1},
    {"rx buffer control", "SRRCTL0", IGBVF_SRRCTL0, -1},
    {"rx head", "RDH0", IGBVF_RDH0, -1},
    {"rx tail", "RDT0", IGBVF_RDT0, -1},
    {"tx ring base", "TDBAL0/TDBAH0", IGBVF_TDBAL0, IGBVF_TDBAH0},
    {"tx ring length", "TDLEN0", IGBVF_TDLEN0, -1},
    {"tx head", "TDH0", IGBVF_TDH0, -1},
    {"tx tail", "TDT0", IGBVF_TDT0, -1},
    {"tx head write-back", "TDWBAL0/TDWBAH0", IGBVF_TDWBAL0, IGBVF_TDWBAH0},
    {"mailbox", "V2PMAILBOX", IGBVF_V2PMAILBOX, -1},
    {NULL, NULL, 0, -1},
};

static int igbvf_dump(struct pmd_port *port, struct pmd_named_reg *out, uint32_t max)
{
    int n = pmd_dump_map(port, igbvf_regs, out, max);
    if (n < 0)
        return n;
    /* A VF has no receive address registers: its MAC is the one the PF's answer
     * to VF_RESET gave (the PF programs it into its own filters). */
    uint64_t mac = 0;
    for (int i = 0; i < 6; i++)
        mac = mac << 8 | port->mac[i];
    if ((n = pmd_dump_put(out, max, (uint32_t)n, "mac address", "VF_RESET reply (VMBMEM)", IGBVF_VMBMEM, mac)) < 0)
        return n;
    return pmd_dump_put(out, max, (uint32_t)n, "mac address valid", "VF_RESET ACK", IGBVF_VMBMEM,
                        vf_state(port)->have_mac);
}

static const struct pmd_driver_ops igbvf_ops = {
    .name = "igbvf",
    .rx_desc_size = sizeof(union igb_adv_rx_desc),
    .tx_desc_size = sizeof(union igb_adv_tx_desc),
    .ring_align = 128, /* RDLEN/TDLEN: multiples of 128 bytes */
    .ring_max = 4096,
    .init = igbvf_init,
    .stop = igbvf_stop,
    .reset = igbvf_reset,
    .read_mac = read_mac,
    .link = e1000_family_link, /* STATUS at the same offset: the PF's link */
    .tx_burst = igbvf_tx_burst,
    .tx_clean = igb_family_tx_clean,
    .rx_burst = igbvf_rx_burst,
    .read_stats = igbvf_read_stats,
    .rx_point_next = igb_family_rx_point_next,
    .tx_raw = igbvf_tx_raw,
    .dump = igbvf_dump,
};

/* Linux igbvf: 2 RX/TX queue pairs, MSI-X with 3 vectors, no MSI or INTx. Frames
 * up to 1518 + VLAN unless the VF asks the PF for more (SET_LPE, not done here). */
const struct pmd_board pmd_board_igbvf_82576 = {
    .ops = &igbvf_ops,
    .desc_format = PMD_DESC_ADVANCED,
    .reg_bar = 0,
    .max_frame = 1522,
    .rx_queues = IGBVF_NUM_QUEUES,
    .tx_queues = IGBVF_NUM_QUEUES,
    .msix_vectors = 3,
    .resets = 1u << PMD_RESET_NONE | 1u << PMD_RESET_DEVICE,
    .flags = PMD_BOARD_HAS_MSIX | PMD_BOARD_PCIE,
    .features = "stats",
};
