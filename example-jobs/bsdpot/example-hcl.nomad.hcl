# example-hcl.nomad.hcl — the form of the bsdpot driver's example.hcl: the
# whole command line in `command` (`nginx -g 'daemon off;'`), and
# network_mode "host" with a port_map. The jail shares the host's network
# (pot's inherit), so the port_map has no effect there, as with the bsdpot
# driver; a task event says so. The program listens on the host port Nomad
# allocated (in the e2e suite its web server, told the port by
# WEBSERVER_PORT; nginx would be configured for it).

variable "image_url" {
  type    = string
  default = "https://potluck.honeyguide.net/nginx-nomad"
}

variable "image" {
  type    = string
  default = "nginx-nomad-amd64-13_1"
}

variable "tag" {
  type    = string
  default = "1.1.13"
}

variable "nginx" {
  description = "The program: nginx in the image (the e2e suite: its web server)."
  type        = string
  default     = "nginx"
}

variable "port" {
  description = "The port it listens on in the jail (nginx's 80; the web server's 8080)."
  type        = string
  default     = "80"
}


job "bsdpot-example-hcl" {
  type = "service"

  group "group1" {
    count = 1

    network {
      port "http" {}
    }

    task "task1" {
      driver = "pot"

      env {
        WEBSERVER_PORT = "${NOMAD_PORT_http}"
      }

      config {
        image   = var.image_url
        pot     = var.image
        tag     = var.tag
        command = "${var.nginx} -g 'daemon off;'"
        port_map = {
          http = var.port
        }
        network_mode = "host"
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
