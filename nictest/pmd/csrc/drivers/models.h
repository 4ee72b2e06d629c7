/* models.h - the PMD's ID table: one line per PCI ID, nothing else (an
 * X-macro list, not a normal header: no include guard, included twice).
 *
 *   PMD_MODEL(vendor, device, "model", board)
 *
 * `board` names a `const struct pmd_board pmd_board_<board>` that the
 * driver's file defines (its ops table and per-model facts, like Linux's
 * e1000_info behind pci_device_id.driver_data). registry.c includes this file
 * twice: once to declare the boards, once to build the table. A new model
 * costs a driver file, its register header, and one line here.
 * IDs as in Linux drivers/net/ethernet/intel/{e1000/e1000_hw.h, e1000e/hw.h}. */

/* e1000: 8254x, conventional PCI / PCI-X, legacy descriptors */
PMD_MODEL(0x8086, 0x100e, "82540EM", e1000_82540)
PMD_MODEL(0x8086, 0x1015, "82540EM-LOM", e1000_82540)
PMD_MODEL(0x8086, 0x1016, "82540EP-LOM", e1000_82540)
PMD_MODEL(0x8086, 0x1017, "82540EP", e1000_82540)
PMD_MODEL(0x8086, 0x101e, "82540EP-LP", e1000_82540)
PMD_MODEL(0x8086, 0x100f, "82545EM-copper", e1000_82540)
PMD_MODEL(0x8086, 0x1011, "82545EM-fiber", e1000_82540)
PMD_MODEL(0x8086, 0x1026, "82545GM-copper", e1000_82540)
PMD_MODEL(0x8086, 0x1027, "82545GM-fiber", e1000_82540)
PMD_MODEL(0x8086, 0x1028, "82545GM-serdes", e1000_82540)
PMD_MODEL(0x8086, 0x1010, "82546EB-copper", e1000_82540)
PMD_MODEL(0x8086, 0x1012, "82546EB-fiber", e1000_82540)
PMD_MODEL(0x8086, 0x101d, "82546EB-quad", e1000_82540)
PMD_MODEL(0x8086, 0x1079, "82546GB-copper", e1000_82540)
PMD_MODEL(0x8086, 0x107a, "82546GB-fiber", e1000_82540)
PMD_MODEL(0x8086, 0x107b, "82546GB-serdes", e1000_82540)
PMD_MODEL(0x8086, 0x1099, "82546GB-quad", e1000_82540)

/* e1000e: 82574L, PCIe, legacy descriptors */
PMD_MODEL(0x8086, 0x10d3, "82574L", e1000e_82574)
PMD_MODEL(0x8086, 0x10c9, "82576", igb_82576) /* igb: PCIe, advanced descriptors */
PMD_MODEL(0x8086, 0x10ca, "82576-VF", igbvf_82576) /* igbvf: SR-IOV VF of the 82576, mailbox to its PF */
