# stateful.volume.hcl — a volume for example-jobs/stateful.nomad.hcl: a pot
# fscomp (ZFS dataset ZFS_ROOT/fscomp/default_counter) made by the pot
# driver's host volume plugin, with a quota and its own snapshots.
#
# Install the plugin once per client (the driver's binary under the name
# pot-fscomp) and name its folder in the client's config:
#
#   ln -s /var/lib/nomad/plugins/nomad-pot-driver /var/lib/nomad/host_volume_plugins/pot-fscomp
#
#   client {
#     host_volume_plugin_dir = "/var/lib/nomad/host_volume_plugins"
#   }
#   plugin "pot" {
#     config {
#       host_path_allow = ["/opt/pot/fscomp"]   # pot's fs_root/fscomp
#     }
#   }
#
# then:
#
#   nomad volume create stateful.volume.hcl    # zfs list zroot/pot/fscomp/default_counter
#   nomad job stop -purge stateful; nomad system gc   # the allocations release it
#   nomad volume delete -type host <ID>        # destroys it with its snapshots

type      = "host"
name      = "counter"
plugin_id = "pot-fscomp"

capacity_min = "10MiB"
capacity_max = "64MiB" # the dataset's ZFS quota

capability {
  access_mode     = "single-node-writer"
  attachment_mode = "file-system"
}

parameters = {
  compression = "lz4"
  snapshots   = "3" # pre-start snapshots the driver keeps
}
